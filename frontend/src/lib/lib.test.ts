import { describe, expect, it } from "vitest";
import { clockOffset, remaining } from "./clock";
import { formatDateTime, formatWon, fromKstInput, toKstInput } from "./format";
import { refundQuote } from "./refund";
import { safeBack, standInUrl } from "./payment";
import { initialLang } from "../i18n";

describe("server clock", () => {
  it("takes the offset at the round trip's midpoint", () => {
    // Sent at 1,000, answered at 1,200 (device clock); the server said 5,100 in between.
    expect(clockOffset(1_000, 1_200, 5_100)).toBe(4_000);
    // A device ahead of the server gets a negative offset.
    expect(clockOffset(10_000, 10_050, 9_025)).toBe(-1_000);
  });
  it("never counts below zero", () => {
    expect(remaining(1_000, 5_000).total).toBe(0);
    expect(remaining(90_061_000, 0)).toEqual({ total: 90_061, days: 1, hours: 1, minutes: 1, seconds: 1 });
  });
});

describe("formatting", () => {
  it("writes won the Korean and the English way", () => {
    expect(formatWon(80000, "ko")).toBe("80,000원");
    expect(formatWon(1234567, "en")).toBe("₩1,234,567");
    expect(formatWon(0, "ko")).toBe("0원");
  });
  it("shows times in Korea whatever the device's zone", () => {
    // 15:00 UTC is midnight of the next day in Seoul.
    expect(formatDateTime("2026-12-24T15:00:00Z", "ko")).toContain("12월 25일");
    expect(formatDateTime("2026-12-24T15:00:00Z", "en")).toMatch(/25 Dec 2026.*00:00/);
  });
  it("round-trips Korean wall-clock input", () => {
    expect(toKstInput("2026-12-24T15:00:00.000Z")).toBe("2026-12-25T00:00");
    expect(fromKstInput("2026-12-25T00:00")).toBe("2026-12-24T15:00:00.000Z");
  });
});

describe("refund quote", () => {
  const policy = { refund_full_days: 7, refund_partial_days: 1, refund_partial_percent: 90 };
  const day = 86_400_000;
  it("follows the published policy like the server (rounded down)", () => {
    expect(refundQuote(99_999, 10 * day, 0, policy)).toEqual({ kind: "full", amount: 99_999 });
    expect(refundQuote(99_999, 3 * day, 0, policy)).toEqual({ kind: "partial", amount: 89_999, percent: 90 });
    expect(refundQuote(99_999, day - 1, 0, policy)).toEqual({ kind: "none", amount: 0 });
    // Exactly 7 days before is still a full refund.
    expect(refundQuote(50_000, 7 * day, 0, policy).kind).toBe("full");
  });
});

describe("the payment stand-in", () => {
  it("passes the order and both return URLs", () => {
    const url = new URL(
      standInUrl(
        "http://127.0.0.1:8089/v1/__test/widget",
        { orderId: "ord_1", orderName: "BTS 외 1건", amount: 160000, back: "/checkout/r-1", customerKey: "u" },
        "http://127.0.0.1:8787",
      ),
    );
    expect(url.searchParams.get("orderId")).toBe("ord_1");
    expect(url.searchParams.get("orderName")).toBe("BTS 외 1건");
    expect(url.searchParams.get("amount")).toBe("160000");
    expect(url.searchParams.get("successUrl")).toBe("http://127.0.0.1:8787/payment/success?back=%2Fcheckout%2Fr-1");
    expect(url.searchParams.get("failUrl")).toBe("http://127.0.0.1:8787/payment/fail?back=%2Fcheckout%2Fr-1");
  });
  it("returns only to our own pages", () => {
    expect(safeBack("/me/memberships")).toBe("/me/memberships");
    expect(safeBack("//evil.example/x")).toBeNull();
    expect(safeBack("https://evil.example")).toBeNull();
    expect(safeBack("/\\evil.example")).toBeNull();
    expect(safeBack(null)).toBeNull();
  });
});

describe("language", () => {
  it("is Korean unless the browser or the fan asks for English", () => {
    expect(initialLang(null, ["ko-KR", "en-US"])).toBe("ko");
    expect(initialLang(null, ["en-US", "ko"])).toBe("en");
    expect(initialLang(null, ["ja-JP"])).toBe("ko");
    expect(initialLang("en", ["ko-KR"])).toBe("en");
    expect(initialLang(null, undefined)).toBe("ko");
  });
});

describe("server-sent events", () => {
  it("splits frames, joins data lines and keeps an unfinished frame for later", async () => {
    const { parseFrames } = await import("./live");
    const { frames, rest } = parseFrames(
      'event: stats\ndata: {"a":1}\n\n: keep-alive\n\ndata: x\ndata: y\n\nevent: stats\ndata: {"b"',
    );
    expect(frames).toEqual([
      { event: "stats", data: '{"a":1}' },
      { event: "message", data: "x\ny" },
    ]);
    expect(rest).toBe('event: stats\ndata: {"b"');
    expect(parseFrames(rest + ":2}\n\n").frames).toEqual([{ event: "stats", data: '{"b":2}' }]);
  });
});
