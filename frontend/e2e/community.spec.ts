// The community board: a fan writes a post on IU's board, another comments, and the
// author sees the comment under their post, everyone by display name.
import { test, expect } from "@playwright/test";
import { logIn } from "./support";

test("a fan posts on an artist's board and another comments", async ({ page }) => {
  await logIn(page, "fan1@urr.local");
  await page.goto("/community");
  await page.getByRole("group", { name: "아티스트 게시판" }).getByRole("button", { name: "아이유" }).click();
  await page.getByRole("link", { name: "글쓰기" }).click();
  await page.getByLabel("제목").fill("콘서트 같이 가요");
  await page.getByLabel("내용").fill("첫 줄\n둘째 줄");
  await page.getByRole("button", { name: "등록" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("콘서트 같이 가요");
  await expect(page.getByText("팬1 Fan 1").first()).toBeVisible();
  const url = page.url();

  await page.context().clearCookies();
  await logIn(page, "fan2@urr.local");
  await page.goto(url);
  await page.getByLabel("댓글").fill("저도 갈게요!");
  await page.getByRole("button", { name: "댓글 달기" }).click();
  await expect(page.getByRole("listitem").filter({ hasText: "저도 갈게요!" })).toContainText("팬2 Fan 2");
  await expect(page.getByRole("heading", { name: "댓글 1" })).toBeVisible();

  await page.context().clearCookies();
  await logIn(page, "fan1@urr.local");
  await page.goto("/community");
  await page.getByRole("group", { name: "아티스트 게시판" }).getByRole("button", { name: "아이유" }).click();
  const row = page.getByRole("listitem").filter({ hasText: "콘서트 같이 가요" });
  await expect(row).toContainText("댓글 1");
  await row.getByRole("link", { name: "콘서트 같이 가요" }).click();
  await expect(page.getByText("저도 갈게요!")).toBeVisible();
  // Nobody's email shows anywhere on the page.
  await expect(page.locator("body")).not.toContainText("@urr.local");
});
