// `cargo xtask e2e --screenshots`: the README's pictures of the fan journey and the
// rules editor, taken from a fresh platform (docs/screenshots/).
import { test, expect } from "@playwright/test";
import { EVENTS, logIn } from "./support";

const dir = "../docs/screenshots";

test("README screenshots", async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.goto("/");
  await expect(page.getByRole("tab", { name: "예매 중" })).toBeVisible();
  await expect(page.locator(".card").first()).toBeVisible();
  await page.screenshot({ path: `${dir}/1-events.png` });

  await page.goto(`/e/${EVENTS.edgeQueued}`);
  await page.screenshot({ path: `${dir}/2-waiting-room.png` });

  await logIn(page, "fan1@urr.local");
  await page.goto(`/events/${EVENTS.stadium}/seats`);
  await page.getByRole("button", { name: /^Floor1-1-10,/ }).click();
  await page.getByRole("button", { name: /^Floor1-1-11,/ }).click();
  await page.screenshot({ path: `${dir}/3-seat-map.png` });
  await page.getByRole("button", { name: /좌석 선택 완료/ }).click();
  await expect(page).toHaveURL(/\/checkout\//);
  await page.screenshot({ path: `${dir}/4-checkout.png` });
  await page.getByRole("button", { name: /^결제하기/ }).click();
  await page.getByRole("button", { name: /결제하기 \/ Pay/ }).click();
  await expect(page.getByRole("heading", { name: "결제 완료" })).toBeVisible();
  await page.goto("/me/tickets");
  await expect(page.getByRole("img", { name: /QR/ }).first()).toBeVisible();
  await page.screenshot({ path: `${dir}/5-tickets.png` });

  await page.context().clearCookies();
  await logIn(page, "promoter@urr.local");
  await page.goto(`/promoter/events/${EVENTS.edgeQueued}/rules`);
  await expect(page.frameLocator("iframe").first().locator("body")).toContainText("뉴진스");
  await page.screenshot({ path: `${dir}/6-rules-editor.png`, fullPage: true });
  await page.goto("/promoter");
  await expect(page.getByRole("table")).toBeVisible();
  await page.screenshot({ path: `${dir}/7-promoter.png` });
});
