// A promoter changes the waiting room's title and admission rate in the editor; the
// preview (rendered by the edge's own page code) shows it, every edge acknowledges the
// new version, and the live waiting room shows the new title.
import { test, expect } from "@playwright/test";
import { EVENTS, logIn } from "./support";

test("the rules editor previews, pushes to every edge, and the room changes", async ({
  page,
  context,
}) => {
  await logIn(page, "promoter@urr.local");
  await page.goto(`/promoter/events/${EVENTS.edgeQueued}/rules`);
  const stamp = Date.now().toString(36);
  const titleKo = `새 대기실 ${stamp}`;
  const titleEn = `New room ${stamp}`;
  await page.getByLabel(/제목 \(한국어\)|Title \(Korean\)/).fill(titleKo);
  await page.getByLabel(/제목 \(영어\)|Title \(English\)/).fill(titleEn);
  await page.getByLabel(/분당 입장 인원|Admissions per minute/).fill("120");

  const preview = page.frameLocator("iframe[title*='미리보기'], iframe[title*='preview' i]").first();
  await expect(preview.locator("body")).toContainText(titleKo);

  await page.getByRole("button", { name: /^(저장|Save)/ }).click();
  await expect(page.getByRole("status")).toContainText(/저장|Saved/);
  // Every configured edge acknowledges the saved version.
  await expect(page.getByTestId("edge-delivery").first()).toContainText(/반영됨|acknowledged/i, {
    timeout: 30_000,
  });
  await expect(page.getByTestId("edge-delivery").filter({ hasText: /대기|pending/i })).toHaveCount(0);

  // The live room, as a fan sees it.
  const fan = await context.newPage();
  await fan.goto(`/e/${EVENTS.edgeQueued}`);
  await expect(fan.locator("body")).toContainText(titleKo);
  await fan.goto(`/e/${EVENTS.edgeQueued}?lang=en`);
  await expect(fan.locator("body")).toContainText(titleEn);
});

test("a fan is kept out of the consoles", async ({ page }) => {
  await logIn(page, "fan6@urr.local");
  await page.goto(`/promoter/events/${EVENTS.edgeQueued}/rules`);
  await expect(page).toHaveURL(/\/$/);
  await page.goto("/admin");
  await expect(page).toHaveURL(/\/$/);
});
