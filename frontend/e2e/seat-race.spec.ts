// Two fans in two browsers go for the same seat at once: one gets it, the other is
// told clearly and sees the map refreshed with the seat taken.
import { test, expect } from "@playwright/test";
import { EVENTS, logIn } from "./support";

test("two browsers race for one seat: one wins, the other is told", async ({ browser }) => {
  const a = await (await browser.newContext()).newPage();
  const b = await (await browser.newContext()).newPage();
  await logIn(a, "fan3@urr.local");
  await logIn(b, "fan4@urr.local");
  const seatsUrl = `/events/${EVENTS.stadium}/seats`;
  await Promise.all([a.goto(seatsUrl), b.goto(seatsUrl)]);
  const label = /^Floor1-1-1,/;
  for (const p of [a, b]) {
    await p.getByRole("button", { name: label }).click();
    await expect(p.getByRole("button", { name: label })).toHaveAttribute("aria-pressed", "true");
  }
  const hold = (p: typeof a) =>
    p.getByRole("button", { name: /좌석 선택 완료|Hold selected seats/ }).click();
  await Promise.all([hold(a), hold(b)]);

  const winner = await Promise.race([
    a.waitForURL(/\/checkout\//).then(() => "a"),
    b.waitForURL(/\/checkout\//).then(() => "b"),
  ]);
  const loser = winner === "a" ? b : a;
  await expect(loser.getByRole("alert")).toContainText(/이미|방금|taken/);
  // The loser's map shows the seat as no longer available, and it is not selected.
  const seat = loser.getByRole("button", { name: label });
  await expect(seat).toHaveAttribute("aria-disabled", "true");
  await expect(seat).toHaveAttribute("aria-pressed", "false");
  await expect(loser).toHaveURL(new RegExp(seatsUrl));
});
