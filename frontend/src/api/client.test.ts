import { describe, expect, it, vi } from "vitest";
import { ApiError, getAccessToken, onRateLimited, sessionFetch, setAccessToken, toApiError } from "./client";

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

describe("session fetch", () => {
  it("refreshes once on 401 and retries with the new token", async () => {
    setAccessToken("old");
    const seen: string[] = [];
    const base = vi.fn(async (input: RequestInfo | URL) => {
      const req = input instanceof Request ? input : new Request(new URL(String(input), "http://x"));
      const path = new URL(req.url, "http://x").pathname;
      if (path === "/api/v1/auth/refresh") return json(200, { access_token: "new" });
      seen.push(req.headers.get("authorization") ?? "");
      return req.headers.get("authorization") === "Bearer new" ? json(200, { ok: true }) : json(401, { code: "TOKEN_EXPIRED" });
    });
    const res = await sessionFetch(base as unknown as typeof fetch)(new Request("http://x/api/v1/me"));
    expect(res.status).toBe(200);
    expect(seen).toEqual(["Bearer old", "Bearer new"]);
    expect(getAccessToken()).toBe("new");
  });

  it("does not loop when the refresh fails", async () => {
    setAccessToken("old");
    let calls = 0;
    const base = vi.fn(async (input: RequestInfo | URL) => {
      calls++;
      const url = input instanceof Request ? input.url : String(input);
      if (url.includes("/auth/refresh")) return json(401, { code: "REFRESH_INVALID" });
      return json(401, { code: "TOKEN_EXPIRED" });
    });
    const res = await sessionFetch(base as unknown as typeof fetch)(new Request("http://x/api/v1/me"));
    expect(res.status).toBe(401);
    expect(calls).toBe(2); // the call and one refresh, no retry
    expect(getAccessToken()).toBeNull();
  });

  it("never refreshes for the login call itself", async () => {
    const base = vi.fn(async () => json(401, { code: "INVALID_CREDENTIALS" }));
    const res = await sessionFetch(base as unknown as typeof fetch)(
      new Request("http://x/api/v1/auth/login", { method: "POST", body: "{}" }),
    );
    expect(res.status).toBe(401);
    expect(base).toHaveBeenCalledTimes(1);
  });

  it("reports 429 with its Retry-After", async () => {
    const heard: number[] = [];
    const off = onRateLimited((s) => heard.push(s));
    const base = vi.fn(async () => json(429, { code: "RATE_LIMITED" }, { "retry-after": "7" }));
    await sessionFetch(base as unknown as typeof fetch)(new Request("http://x/api/v1/events"));
    off();
    expect(heard).toEqual([7]);
  });
});

describe("problems", () => {
  it("keeps the code, the status and the field errors", () => {
    const e = toApiError(
      { code: "VALIDATION_FAILED", detail: "bad", errors: [{ field: "rules.max_active", message: "too big" }] },
      new Response(null, { status: 422 }),
    );
    expect(e).toBeInstanceOf(ApiError);
    expect(e.code).toBe("VALIDATION_FAILED");
    expect(e.status).toBe(422);
    expect(e.field("rules.max_active")).toBe("too big");
    expect(e.field("rules.mode")).toBeUndefined();
  });
  it("turns a non-problem body into a generic error", () => {
    const e = toApiError("<html>", new Response(null, { status: 502, statusText: "Bad Gateway" }));
    expect(e.code).toBe("SERVER_ERROR");
  });
});
