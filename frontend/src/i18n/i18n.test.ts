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
  it("translate only error codes the API really has", () => {
    const doc = readFileSync("openapi.json", "utf8");
    const local = new Set(["NETWORK", "RATE_LIMITED_WAIT", "SERVER_ERROR"]);
    for (const code of Object.keys(ko.errors)) {
      if (!local.has(code)) expect(doc, code).toContain(`\`${code}\``);
    }
  });
});
