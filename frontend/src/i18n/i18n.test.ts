import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import ko from "./ko.json";
import en from "./en.json";

function keys(o: object, prefix = ""): string[] {
  return Object.entries(o).flatMap(([k, v]) =>
    v && typeof v === "object" ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`],
  );
}

describe("translations", () => {
  it("have the same keys in Korean and English", () => {
    expect(keys(en).sort()).toEqual(keys(ko).sort());
  });
  it("translate exactly the error codes the API has", () => {
    // Every code the OpenAPI document names (`SEAT_UNAVAILABLE`) reaches fans in their
    // language; a translated code the API no longer has is a leftover.
    const doc = readFileSync("openapi.json", "utf8");
    const apiCodes = new Set([...doc.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]));
    const local = new Set(["NETWORK", "RATE_LIMITED_WAIT", "SERVER_ERROR"]);
    const translated = Object.keys(ko.errors).filter((c) => !local.has(c));
    expect(translated.filter((c) => !apiCodes.has(c))).toEqual([]);
    // Each route's error responses list their codes as "`CODE`: summary".
    const errorCodes = new Set([...doc.matchAll(/`([A-Z][A-Z0-9_]+)`: /g)].map((m) => m[1]));
    expect(errorCodes.size).toBeGreaterThan(100);
    expect([...errorCodes].filter((c) => !(c in ko.errors))).toEqual([]);
  });
});
