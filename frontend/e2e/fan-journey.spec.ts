// The whole fan journey on the edge-queued demo event: list → event → the edge's
// waiting room → admitted → the hand-off page → seat map → hold → pay in the (fake)
// Toss widget → success → the ticket with its QR code.
import { test, expect } from "@playwright/test";
import { EVENTS, logIn, payInFakeWidget } from "./support";

test("a fan queues at the edge, picks a seat, pays and gets a ticket", async ({ page }) => {
  await logIn(page, "fan1@urr.local");
  await page.goto("/");
  await page.getByRole("link", { name: /뉴진스 팬미팅/ }).first().click();
  await expect(page).toHaveURL(new RegExp(`/events/${EVENTS.edgeQueued}$`));
  await expect(page.getByRole("heading", { level: 1 })).toContainText("뉴진스 팬미팅");

  // The booking button leads to the edge's waiting room (a page of the edge, not the app).
  await page.getByRole("link", { name: /예매하기|Book now/ }).click();
  await expect(page).toHaveURL(new RegExp(`/e/${EVENTS.edgeQueued}`));
  await page.getByRole("button", { name: /대기열 입장하기|Join the queue/ }).click();

  // Served: the room moves on to the app's hand-off page, which joins tier 2 with the
  // pass cookie and moves on to the seats once admitted.
  await expect(page).toHaveURL(new RegExp(`/events/${EVENTS.edgeQueued}/seats`), {
    timeout: 60_000,
  });
  const seat = page.getByRole("button", { name: /^VIP-1-5,/ });
  await seat.click();
  await expect(seat).toHaveAttribute("aria-pressed", "true");
  await page.getByRole("button", { name: /좌석 선택 완료|Hold selected seats/ }).click();

  await expect(page).toHaveURL(/\/checkout\//);
  await expect(page.getByText(/VIP-1-5/)).toBeVisible();
  await page.getByRole("button", { name: /^(결제하기|Pay)/ }).click();
  await payInFakeWidget(page);
  await expect(page.getByText(/VIP-1-5/)).toBeVisible();

  await page.goto("/me/tickets");
  const ticket = page.getByRole("article").filter({ hasText: "VIP-1-5" });
  await expect(ticket).toBeVisible();
  await expect(ticket.getByRole("img", { name: /QR/ })).toBeVisible();
  await expect(ticket.getByText(/^[0-9A-HJKMNP-TV-Z]{10}$/)).toBeVisible();
});
