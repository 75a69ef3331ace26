// The operator's account search: an admin finds a fan by email, makes them a promoter,
// the change is in the audit log, and the fan's next visit shows the promoter console.
import { test, expect } from "@playwright/test";
import { logIn } from "./support";

test("an admin changes a fan's role and the fan gets the promoter console", async ({ page }) => {
  await logIn(page, "admin@urr.local");
  await page.goto("/admin");
  await page.getByRole("link", { name: "회원 관리" }).click();
  await page.getByLabel("이름·이메일").fill("fan8@urr.local");
  await page.getByRole("button", { name: "검색" }).click();
  const row = page.getByRole("row").filter({ hasText: "fan8@urr.local" });
  await expect(row).toContainText("팬8 Fan 8");
  await row.getByLabel("팬8 Fan 8의 권한").selectOption("promoter");
  await row.getByRole("button", { name: "변경" }).click();
  await expect(row.getByRole("status")).toHaveText("변경했습니다.");

  // The audit log has it, newest first: who, what, before and after.
  await page.goto("/admin");
  await page.getByRole("link", { name: "감사 기록" }).click();
  await page.getByLabel("작업").fill("user.updated");
  await page.getByRole("button", { name: "검색" }).click();
  const entry = page.getByRole("row").nth(1);
  await expect(entry).toContainText("user.updated");
  await expect(entry).toContainText("관리자");
  await expect(entry).toContainText("이전: role: fan");
  await expect(entry).toContainText("이후: role: promoter");

  await page.context().clearCookies();
  await logIn(page, "fan8@urr.local");
  await expect(page.getByRole("link", { name: "프로모터" })).toBeVisible();
});
