// A promoter creates a standing event in the console, sees its live counters, edits
// it, and cancels it after the dialog says what the cancellation will do.
import { test, expect } from "@playwright/test";
import { logIn } from "./support";

/** `datetime-local` value for now + `hours`, on Korea's wall clock. */
const kst = (hours: number) =>
  new Date(Date.now() + hours * 3600_000 + 9 * 3600_000).toISOString().slice(0, 16);

test("a promoter creates, edits and cancels an event", async ({ page }) => {
  await logIn(page, "promoter@urr.local");
  await page.goto("/promoter");
  await page.getByRole("link", { name: /공연 만들기|New event/ }).click();
  const title = `스탠딩 테스트 ${Date.now().toString(36)}`;
  await page.getByLabel(/^제목$|^Title$/).fill(title);
  await page.getByLabel(/공연장|Venue/).selectOption({ index: 1 });
  await page.getByLabel(/공연 시작|Show starts/).fill(kst(72));
  await page.getByLabel(/예매 시작|Sale opens/).fill(kst(-1));
  await page.getByLabel(/예매 마감|Sale closes/).fill(kst(48));
  await page.getByRole("button", { name: /티켓 종류 추가|Add a ticket type/ }).click();
  await page.getByLabel(/^이름$|^Name$/).fill("스탠딩 A");
  await page.getByLabel(/가격\(원\)|Price \(KRW\)/).fill("55000");
  await page.getByLabel(/^수량$|^Quantity$/).fill("120");
  await page.getByRole("button", { name: /^(저장|Save)$/ }).click();

  // A new event goes on to its waiting-room rules; the console lists it with its stock.
  await expect(page).toHaveURL(/\/promoter\/events\/[0-9a-f-]+\/rules/);
  await page.goto("/promoter");
  const row = page.getByRole("row").filter({ hasText: title });
  await expect(row).toContainText("120");
  await expect(row).toContainText(/예매 중|On sale/);

  // Edit the title.
  await row.getByRole("link", { name: /^(수정|Edit)$/ }).click();
  await expect(page.getByLabel(/^제목$|^Title$/)).toHaveValue(title);
  await page.getByLabel(/^제목$|^Title$/).fill(`${title} (수정)`);
  // Its ticket type is edited in place: 30 more tickets.
  await expect(page.getByLabel(/^수량$|^Quantity$/)).toHaveValue("120");
  await page.getByLabel(/^수량$|^Quantity$/).fill("150");
  await page.getByRole("button", { name: /^(저장|Save)$/ }).click();
  await expect(page).toHaveURL(/\/promoter$/);
  const edited = page.getByRole("row").filter({ hasText: `${title} (수정)` });
  await expect(edited).toBeVisible();
  await expect(edited).toContainText("150");

  // Cancel: the dialog first says what would be released and refunded.
  await edited.getByRole("button", { name: /공연 취소|Cancel event/ }).click();
  const dialog = page.getByRole("dialog");
  await expect(dialog).toContainText(/0건\(0매\)|0 unpaid holds/);
  await dialog.getByRole("button", { name: /공연 취소하기|Cancel the event/ }).click();
  await expect(page.getByRole("status")).toContainText(/취소됨|cancelled/);
  await expect(edited).toContainText(/취소됨|Cancelled/);
});
