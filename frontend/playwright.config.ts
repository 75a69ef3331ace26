import { defineConfig, devices } from "@playwright/test";

// Run by `cargo xtask test` (or `cargo xtask e2e`), which starts a fresh platform on
// free ports and passes its addresses here. The browser is the system Chromium:
// Playwright's own browser download is not used.
const out = process.env.URR_E2E_OUTPUT ?? "../target/e2e";

export default defineConfig({
  testDir: "./e2e",
  // `cargo xtask bench web` sets URR_BENCH and runs the measurements instead;
  // `cargo xtask e2e --screenshots` sets URR_SHOTS and takes the README's pictures.
  testMatch: process.env.URR_BENCH
    ? /.*\.bench\.ts/
    : process.env.URR_SHOTS
      ? /.*\.shots\.ts/
      : /.*\.spec\.ts/,
  outputDir: `${out}/results`,
  // One platform, shared demo data: tests run one after another.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 120_000,
  expect: { timeout: 15_000 },
  reporter: [["list"], ["html", { outputFolder: `${out}/report`, open: "never" }]],
  use: {
    ...devices["Desktop Chrome"],
    baseURL: process.env.URR_E2E_BASE_URL ?? "http://127.0.0.1:8787",
    locale: "ko-KR",
    timezoneId: "Asia/Seoul",
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
    video: "off",
    launchOptions: {
      executablePath: process.env.URR_CHROMIUM ?? "/usr/bin/chromium",
      // The machine has no network beyond loopback: keep Chromium from calling home.
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
      ],
    },
  },
});
