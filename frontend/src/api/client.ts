// The typed API client: openapi-fetch over the types generated from the origin's
// OpenAPI document (`cargo xtask web-api`), plus the session rules every call follows:
//
// - the access token lives in memory only; the refresh token is an HttpOnly cookie;
// - a 401 triggers one silent refresh (shared by concurrent calls) and one retry;
// - a 429 tells the app (a visible banner with the `Retry-After` seconds);
// - every error body is an RFC 9457 problem, thrown as `ApiError`.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

export interface FieldError {
  field: string;
  message: string;
}

export interface Problem {
  type?: string;
  title?: string;
  status: number;
  code: string;
  detail: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

export class ApiError extends Error {
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail || problem.code);
    this.problem = problem;
  }
  get code(): string {
    return this.problem.code;
  }
  get status(): number {
    return this.problem.status;
  }
  /** The message of one field (`rules.new_users_per_minute`), if the server named it. */
  field(name: string): string | undefined {
    return this.problem.errors?.find((e) => e.field === name)?.message;
  }
}

let accessToken: string | null = null;
const rateLimitListeners = new Set<(seconds: number) => void>();

export function setAccessToken(token: string | null): void {
  accessToken = token;
}

export function getAccessToken(): string | null {
  return accessToken;
}

export function onRateLimited(listener: (seconds: number) => void): () => void {
  rateLimitListeners.add(listener);
  return () => rateLimitListeners.delete(listener);
}

/** Calls that must never trigger a refresh (they are the session itself). */
const SESSION_PATHS = ["/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/register"];

let refreshing: Promise<string | null> | null = null;

/** Exchanges the refresh cookie for a new access token; `null` when there is no session. */
export function refreshSession(fetchImpl: typeof fetch = fetch): Promise<string | null> {
  refreshing ??= (async () => {
    try {
      const res = await fetchImpl("/api/v1/auth/refresh", {
        // Browsers send no body: the refresh token is the HttpOnly cookie.
        method: "POST",
        credentials: "include",
      });
      if (!res.ok) {
        setAccessToken(null);
        return null;
      }
      const body = (await res.json()) as { access_token: string };
      setAccessToken(body.access_token);
      return body.access_token;
    } catch {
      return null;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function withToken(req: Request, token: string | null): Request {
  const r = new Request(req);
  if (token) r.headers.set("authorization", `Bearer ${token}`);
  return r;
}

/**
 * `fetch` with the session rules above; `base` is the real fetch (tests pass a fake).
 * Exported for tests and for the few non-JSON calls (the rules preview).
 */
export function sessionFetch(base: typeof fetch = (...a) => fetch(...a)) {
  return async (input: Request): Promise<Response> => {
    const retry = input.clone();
    let res = await base(withToken(input, accessToken));
    const path = new URL(input.url, "http://x").pathname;
    if (res.status === 401 && !SESSION_PATHS.includes(path)) {
      const token = await refreshSession(base);
      if (token) res = await base(withToken(retry, token));
    }
    if (res.status === 429) {
      const seconds = Number(res.headers.get("retry-after") ?? "1") || 1;
      rateLimitListeners.forEach((l) => l(seconds));
    }
    return res;
  };
}

export const api = createClient<paths>({
  // Same origin as the page (the origin serves the app; the edge proxies both).
  baseUrl: typeof window === "undefined" ? "" : window.location.origin,
  credentials: "include",
  fetch: sessionFetch(),
});

/** The body of a successful answer, or the problem thrown as `ApiError`. */
export async function unwrap<R extends { data?: unknown; error?: unknown; response: Response }>(
  call: Promise<R>,
): Promise<NonNullable<R["data"]>> {
  const { data, error, response } = await call;
  if (response.ok) return data as NonNullable<R["data"]>;
  throw toApiError(error, response);
}

export function toApiError(body: unknown, response: Response): ApiError {
  if (body && typeof body === "object" && "code" in body) {
    return new ApiError({ ...(body as Problem), status: response.status });
  }
  return new ApiError({
    status: response.status,
    code: response.status >= 500 ? "SERVER_ERROR" : "HTTP_ERROR",
    detail: typeof body === "string" ? body : response.statusText,
  });
}

/** A fresh idempotency key per user action (retries of the same action reuse it). */
export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}
