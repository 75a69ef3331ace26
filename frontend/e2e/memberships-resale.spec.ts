// Memberships and resale in the browser: a DIAMOND member books in the presale window
// while a non-member is told when theirs opens; a GOLD member lists a ticket, a SILVER
// member buys it, and the seller's old QR code is refused at the door.
import { test, expect, type Page } from "@playwright/test";
import { EVENTS, apiAs, logIn, payInFakeWidget } from "./support";

/** Books one seat of the member-presale event for the logged-in fan and pays. */
async function buySeat(page: Page, seatLabel: string) {
  await page.goto(`/events/${EVENTS.memberPresale}`);
  await expect(page.getByText("지금 예매할 수 있습니다.")).toBeVisible();
  await page.getByRole("link", { name: "예매하기" }).click();
  const seat = page.getByRole("button", { name: new RegExp(`^${seatLabel},`) });
  await seat.click();
  await page.getByRole("button", { name: /좌석 선택 완료/ }).click();
  await expect(page).toHaveURL(/\/checkout\//);
  await page.getByRole("button", { name: /^결제하기/ }).click();
  await payInFakeWidget(page);
}

test("a DIAMOND member books in the presale while a non-member is told when to come back", async ({ page }) => {
  await logIn(page, "fan4@urr.local");
  await page.goto(`/events/${EVENTS.memberPresale}`);
  await expect(page.getByText(/부터 예매할 수 있습니다\./)).toBeVisible();
  await expect(page.getByRole("link", { name: "예매하기" })).toHaveCount(0);
  const schedule = page.getByRole("table", { name: "선예매 일정" });
  await expect(schedule.locator('tr[aria-current="true"]')).toContainText("일반");
  // Going to the seats directly does not get round it: the server refuses the hold.
  await page.goto(`/events/${EVENTS.memberPresale}/seats`);
  await page.getByRole("button", { name: /^VIP-1-9,/ }).click();
  await page.getByRole("button", { name: /좌석 선택 완료/ }).click();
  await expect(page.getByRole("alert")).toContainText("아직 예매가 열리지 않았습니다");

  await page.context().clearCookies();
  await logIn(page, "fan1@urr.local");
  await page.goto("/me/memberships");
  await expect(page.getByRole("listitem").filter({ hasText: "아이유" }).first()).toContainText("다이아몬드");
  await buySeat(page, "VIP-1-1");
  await expect(page.getByText(/VIP-1-1/)).toBeVisible();
});

test("a member lists a ticket, another buys it, and the seller's old QR is refused", async ({ page }) => {
  await logIn(page, "fan2@urr.local");
  await buySeat(page, "VIP-1-2");
  const seller = await apiAs("fan2@urr.local");
  const mine = await (
    await seller.api.get("/api/v1/me/tickets", { headers: { authorization: `Bearer ${seller.token}` } })
  ).json();
  const old = mine.items.find((t: { label: string }) => t.label === "VIP-1-2");
  expect(old.qr).toBeTruthy();

  await page.goto("/me/tickets");
  const ticket = page.getByRole("article").filter({ hasText: "VIP-1-2" });
  await ticket.getByRole("button", { name: "양도 등록" }).click();
  await ticket.getByRole("button", { name: "등록하기" }).click();
  await expect(ticket.getByRole("status")).toContainText("양도 등록했습니다");
  await page.goto("/transfers/my");
  await expect(page.getByRole("listitem").filter({ hasText: "VIP-1-2" })).toContainText("판매 중");

  await page.context().clearCookies();
  await logIn(page, "fan3@urr.local");
  await page.goto(`/transfers?event=${EVENTS.memberPresale}`);
  const offer = page.getByRole("listitem").filter({ hasText: "VIP-1-2" });
  await expect(offer).toContainText("정가");
  await offer.getByRole("button", { name: "구매하기" }).click();
  await payInFakeWidget(page);
  await expect(page.getByText(/VIP-1-2/)).toBeVisible();
  await page.goto("/me/tickets");
  await expect(page.getByRole("article").filter({ hasText: "VIP-1-2" }).getByRole("img", { name: /QR/ })).toBeVisible();

  // At the door the seller's QR is refused: the ticket moved.
  const staff = await apiAs("admin@urr.local");
  const door = await staff.api.post(`/api/v1/events/${EVENTS.memberPresale}/check-ins`, {
    headers: { authorization: `Bearer ${staff.token}` },
    data: { qr: old.qr },
  });
  expect(door.status()).toBe(409);
  expect((await door.json()).code).toBe("TICKET_VOID");

  // The seller is owed the price less the fee.
  await page.context().clearCookies();
  await logIn(page, "fan2@urr.local");
  await page.goto("/me/payouts");
  await expect(page.getByRole("listitem").filter({ hasText: "VIP-1-2" })).toContainText("정산 대기");
});
