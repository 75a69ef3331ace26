// Countdowns use the server's clock, not the device's: `GET /api/v1/time` once, and the
// device clock corrected by the offset measured at the round trip's midpoint.
import { useEffect, useState } from "react";

let offsetMs = 0;

/** Server time minus device time, from a request sent at `t0` and answered at `t1`. */
export function clockOffset(t0: number, t1: number, serverUnixMs: number): number {
  return Math.round(serverUnixMs - (t0 + t1) / 2);
}

export function serverNow(): number {
  return Date.now() + offsetMs;
}

export async function syncClock(fetchImpl: typeof fetch = fetch): Promise<number> {
  try {
    const t0 = Date.now();
    const res = await fetchImpl("/api/v1/time", { cache: "no-store" });
    const t1 = Date.now();
    if (res.ok) {
      const body = (await res.json()) as { unix_ms: number };
      offsetMs = clockOffset(t0, t1, body.unix_ms);
    }
  } catch {
    // Keep the device clock: a countdown a little off beats none.
  }
  return offsetMs;
}

/** Re-renders every `ms` with the corrected time. */
export function useServerNow(ms = 1000): number {
  const [now, setNow] = useState(serverNow);
  useEffect(() => {
    const id = setInterval(() => setNow(serverNow()), ms);
    return () => clearInterval(id);
  }, [ms]);
  return now;
}

/** `{days, hours, minutes, seconds}` until `target` (never negative). */
export function remaining(targetMs: number, nowMs: number) {
  const total = Math.max(0, Math.floor((targetMs - nowMs) / 1000));
  return {
    total,
    days: Math.floor(total / 86400),
    hours: Math.floor((total % 86400) / 3600),
    minutes: Math.floor((total % 3600) / 60),
    seconds: total % 60,
  };
}
