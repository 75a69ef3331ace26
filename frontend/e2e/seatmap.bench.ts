// `cargo xtask bench web`: the 4,900-seat stadium map in Chromium. Writes its figures
// to URR_BENCH_OUT; the xtask prints them next to the bundle sizes. Not a test: there
// are no timing assertions, only measurements.
import { test, expect } from "@playwright/test";
import { writeFileSync } from "node:fs";
import { EVENTS, logIn } from "./support";

test("stadium seat map: render and selection latency", async ({ page }) => {
  await logIn(page, "fan8@urr.local");
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

  // Baseline: an empty page's first layout in the same browser.
  const blank: number[] = [];
  for (let i = 0; i < 5; i++) {
    await page.goto("about:blank");
    blank.push(
      await page.evaluate(async () => {
        const t0 = performance.now();
        document.body.innerHTML = "<div>x</div>";
        document.body.getBoundingClientRect();
        await new Promise(requestAnimationFrame);
        return performance.now() - t0;
      }),
    );
  }

  const renders: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    await page.goto(`/events/${EVENTS.stadium}/seats`);
    await page.waitForFunction(
      () => document.querySelectorAll("[data-seat-id]").length >= 4900,
      undefined,
      { timeout: 60_000 },
    );
    renders.push(Date.now() - t0);
  }
  const seats = await page.locator("[data-seat-id]").count();
  expect(seats).toBeGreaterThanOrEqual(4900);

  // Selection: from the event to the seat showing as selected, for clicks and keys.
  const select = async (how: "click" | "key", nth: number) =>
    page.evaluate(
      async ({ how, nth }) => {
        const all = document.querySelectorAll<HTMLElement>("[data-seat-id][aria-pressed='false']");
        const seat = all[nth];
        const t0 = performance.now();
        if (how === "click") seat.dispatchEvent(new MouseEvent("click", { bubbles: true }));
        else {
          seat.focus();
          seat.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
        }
        while (seat.getAttribute("aria-pressed") !== "true") {
          await new Promise(requestAnimationFrame);
        }
        await new Promise(requestAnimationFrame);
        const dt = performance.now() - t0;
        // Deselect again so the per-fan limit never stops the next sample.
        seat.dispatchEvent(new MouseEvent("click", { bubbles: true }));
        while (seat.getAttribute("aria-pressed") !== "false") {
          await new Promise(requestAnimationFrame);
        }
        return dt;
      },
      { how, nth },
    );
  const clicks: number[] = [];
  const keys: number[] = [];
  for (let i = 0; i < 15; i++) {
    clicks.push(await select("click", 100 + i * 97));
    keys.push(await select("key", 200 + i * 89));
  }
  const result = {
    seats,
    render_ms_median_of_3: median(renders),
    render_ms_all: renders,
    click_to_selected_ms_median: median(clicks),
    click_to_selected_ms_max: Math.max(...clicks),
    key_to_selected_ms_median: median(keys),
    blank_page_layout_ms_median: median(blank),
    click_vs_blank_layout_ratio: +(median(clicks) / Math.max(median(blank), 0.1)).toFixed(2),
  };
  writeFileSync(process.env.URR_BENCH_OUT ?? "seatmap-bench.json", JSON.stringify(result, null, 2));
});
