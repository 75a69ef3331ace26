// Korean and English both render, and axe-core finds no serious or critical
// violation on the pages fans and promoters use most.
import { test, expect, type Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { EVENTS, logIn } from "./support";

async function noSeriousViolations(page: Page, what: string) {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.length}× e.g. ${v.nodes[0]?.target})`),
    what,
  ).toEqual([]);
}

test("Korean by default, English on request", async ({ page }) => {
  await page.goto("/");
  await expect(page.getByRole("tab", { name: "예매 중" })).toBeVisible();
  await page.getByRole("button", { name: /English/ }).click();
  await expect(page.getByRole("tab", { name: /On sale/ })).toBeVisible();
  await page.getByRole("button", { name: /한국어/ }).click();
  await expect(page.getByRole("tab", { name: "예매 중" })).toBeVisible();
});

test("no serious accessibility violations on the main pages", async ({ page }) => {
  await page.goto("/");
  await expect(page.getByRole("tab", { name: "예매 중" })).toBeVisible();
  await noSeriousViolations(page, "/");

  await page.goto(`/events/${EVENTS.stadium}`);
  await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
  await noSeriousViolations(page, "event page");

  await logIn(page, "fan7@urr.local");
  // The seat map component on the 265-seat theatre (axe over the stadium's 4,900 seat
  // buttons takes over a minute and checks the same markup).
  await page.goto(`/events/${EVENTS.edgeQueued}/seats`);
  await expect(page.getByRole("button", { name: /^VIP-1-1,/ })).toBeVisible();
  await noSeriousViolations(page, "seat map");

  await page.goto(`/events/${EVENTS.stadium}/seats`);
  await expect(page.getByRole("button", { name: /^Floor3-30-70,/ })).toBeVisible();

  await page.getByRole("button", { name: /^Floor3-30-70,/ }).click();
  await page.getByRole("button", { name: /좌석 선택 완료|Hold selected seats/ }).click();
  await expect(page).toHaveURL(/\/checkout\//);
  await expect(page.getByRole("button", { name: /^(결제하기|Pay)/ })).toBeVisible();
  await noSeriousViolations(page, "checkout");

  // The member presale's event page, the resale market, the fan-club pages.
  await page.goto(`/events/${EVENTS.memberPresale}`);
  await expect(page.getByRole("table", { name: "선예매 일정" })).toBeVisible();
  await noSeriousViolations(page, "presale event page");
  await page.goto("/transfers");
  await expect(page.getByRole("heading", { name: "양도 마켓" })).toBeVisible();
  await noSeriousViolations(page, "resale market");
  await page.goto("/me/memberships");
  await expect(page.getByRole("table", { name: "등급별 혜택" })).toBeVisible();
  await noSeriousViolations(page, "my memberships");
  await page.goto("/community");
  await expect(page.getByRole("group", { name: "아티스트 게시판" })).toBeVisible();
  await noSeriousViolations(page, "community");

  // A new session: drop the fan's refresh cookie, then sign in as the promoter.
  await page.context().clearCookies();
  await logIn(page, "promoter@urr.local");
  await page.goto(`/promoter/events/${EVENTS.edgeQueued}/rules`);
  await expect(page.getByLabel(/제목 \(한국어\)|Title \(Korean\)/)).toBeVisible();
  await noSeriousViolations(page, "rules editor");
  await page.goto(`/promoter/events/${EVENTS.edgeQueued}/dashboard`);
  await expect(page.getByRole("region", { name: "대기실" })).toBeVisible();
  await noSeriousViolations(page, "promoter dashboard");

  await page.context().clearCookies();
  await logIn(page, "admin@urr.local");
  await page.goto("/admin/stats");
  await expect(page.getByRole("heading", { name: "플랫폼 통계" })).toBeVisible();
  await expect(page.getByTestId("total-sales")).toBeVisible();
  await noSeriousViolations(page, "admin statistics");
  await page.goto("/admin/audit");
  await expect(page.getByRole("heading", { name: "감사 기록" })).toBeVisible();
  await noSeriousViolations(page, "audit log");
});
