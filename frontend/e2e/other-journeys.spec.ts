// The origin-only line (no edge tier) with standing tickets, and a standing show
// without any queue, end to end.
import { test, expect } from "@playwright/test";
import { EVENTS, logIn, payInFakeWidget } from "./support";

test("the origin line admits a fan who then buys standing tickets", async ({ page }) => {
  await logIn(page, "fan2@urr.local");
  await page.goto(`/events/${EVENTS.originQueued}`);
  await page.getByRole("link", { name: /예매하기|Book now/ }).click();
  await expect(page).toHaveURL(new RegExp(`/events/${EVENTS.originQueued}/queue`));
  await expect(page).toHaveURL(new RegExp(`/events/${EVENTS.originQueued}/book`), {
    timeout: 60_000,
  });
  await page.getByRole("button", { name: /스탠딩.*(늘리기|more)|Standing.*more/ }).click();
  await page.getByRole("button", { name: /스탠딩.*(늘리기|more)|Standing.*more/ }).click();
  await page.getByRole("button", { name: /예매 계속|Continue/ }).click();
  await expect(page).toHaveURL(/\/checkout\//);
  await expect(page.getByText(/198,000원/).first()).toBeVisible();
  await page.getByRole("button", { name: /^(결제하기|Pay)/ }).click();
  await payInFakeWidget(page);
});

test("a standing show without a queue books directly", async ({ page }) => {
  await logIn(page, "fan5@urr.local");
  await page.goto(`/events/${EVENTS.standing}`);
  await page.getByRole("link", { name: /예매하기|Book now/ }).click();
  await expect(page).toHaveURL(new RegExp(`/events/${EVENTS.standing}/book`));
  const more = page.getByRole("button", { name: /(늘리기|more)/ }).first();
  await more.click();
  await page.getByRole("button", { name: /예매 계속|Continue/ }).click();
  await expect(page).toHaveURL(/\/checkout\//);
  await page.getByRole("button", { name: /^(결제하기|Pay)/ }).click();
  await payInFakeWidget(page);
  await page.goto("/me/reservations");
  await expect(page.getByText(/결제 완료|확정|Confirmed|Paid/).first()).toBeVisible();
});
