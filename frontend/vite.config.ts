/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `cargo xtask dev --web-dev` sets URR_DEV_PROXY to the edge (or the origin): the dev
// server forwards the API and the waiting rooms there, so the app runs same-origin
// as in production.
const proxyTarget = process.env.URR_DEV_PROXY ?? "http://127.0.0.1:8787";
const proxied = ["/api", "/e/", "/vwr/"];

export default defineConfig({
  plugins: [react()],
  build: {
    // `cargo xtask bench web` reads the manifest to report each route's size.
    manifest: true,
    sourcemap: false,
    target: "es2022",
  },
  server: {
    proxy: Object.fromEntries(proxied.map((p) => [p, { target: proxyTarget, changeOrigin: false }])),
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test-setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
