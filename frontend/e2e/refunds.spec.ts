// Money going back: a fan cancels a paid booking and is told the refund the policy
// gives before confirming; an admin finds a fan's paid booking and refunds it in full.
import { test, expect, type Page } from "@playwright/test";
import { EVENTS, logIn, payInFakeWidget } from "./support";

/** Buys one early-bird standing ticket for the logged-in fan and returns to the list. */
async function buyStanding(page: Page) {
  await page.goto(`/events/${EVENTS.standing}/book`);
  await page.getByRole("button", { name: /얼리버드 늘리기/ }).click();
  await page.getByRole("button", { name: /예매 계속/ }).click();
  await expect(page).toHaveURL(/\/checkout\//);
  await page.getByRole("button", { name: /^결제하기/ }).click();
  await payInFakeWidget(page);
}

test("a fan cancels a paid booking after seeing the refund it gives", async ({ page }) => {
  await logIn(page, "fan6@urr.local");
  await buyStanding(page);
  await page.goto("/me/reservations");
  const booking = page.getByRole("listitem").filter({ hasText: "지코 단독 공연" }).first();
  await expect(booking).toContainText("예매 확정");
  await booking.getByRole("button", { name: "예매 취소" }).click();
  // The show is two weeks away: the policy gives everything back.
  const dialog = page.getByRole("dialog");
  await expect(dialog).toContainText("전액 69,000원이 환불됩니다.");
  await dialog.getByRole("button", { name: "취소하고 환불받기" }).click();
  await expect(booking).toContainText(/환불됨|취소됨/);
  // The ticket is void, and the payment history shows the money back.
  await page.goto("/me/tickets");
  await expect(page.getByRole("article").filter({ hasText: "얼리버드" }).first()).toContainText("무효");
  await page.getByRole("link", { name: "결제 내역" }).click();
  const payment = page.getByRole("listitem").filter({ hasText: "지코 단독 공연" }).first();
  await expect(payment).toContainText("환불 완료 69,000원");
});

test("an admin refunds a fan's booking from the reservation search", async ({ page }) => {
  await logIn(page, "fan9@urr.local");
  await buyStanding(page);
  await page.context().clearCookies();
  await logIn(page, "admin@urr.local");
  await page.goto("/admin");
  await expect(page.getByRole("heading", { name: "관리자 대시보드" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "최근 예매" })).toBeVisible();
  await page.getByRole("link", { name: "예매 관리" }).click();
  // The dashboard's chart is labelled "…상태별…" too: wait for the search page.
  await expect(page).toHaveURL(/\/admin\/reservations/);
  await page.getByLabel("상태").selectOption("confirmed");
  await page.getByLabel("이름·이메일·공연").fill("fan9@urr.local");
  await page.getByRole("button", { name: "검색" }).click();
  const row = page.getByRole("row").filter({ hasText: "fan9@urr.local" }).first();
  await expect(row).toContainText("예매 확정");
  await row.getByRole("button", { name: "환불" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "전액 환불" }).click();
  await expect(page.getByRole("status")).toContainText("69,000원 환불을 요청했습니다.");
  await page.getByLabel("상태").selectOption("refunded");
  await page.getByRole("button", { name: "검색" }).click();
  await expect(page.getByRole("row").filter({ hasText: "fan9@urr.local" }).first()).toContainText("환불됨");
});
