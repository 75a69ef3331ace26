// Server-sent events over `fetch`, so the access token travels in the Authorization
// header (an `EventSource` cannot send one, and a token in the URL would end up in
// logs). Reconnects after the stream ends or fails, refreshing the session on a 401,
// until `signal` aborts.
import { getAccessToken, refreshSession } from "../api/client";

/** Splits SSE text into `{event, data}` frames; returns them and the unfinished rest. */
export function parseFrames(buffer: string): { frames: { event: string; data: string }[]; rest: string } {
  const frames: { event: string; data: string }[] = [];
  const parts = buffer.split("\n\n");
  const rest = parts.pop() ?? "";
  for (const part of parts) {
    let event = "message";
    const data: string[] = [];
    for (const line of part.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    }
    if (data.length) frames.push({ event, data: data.join("\n") });
  }
  return { frames, rest };
}

export async function streamEvents(
  path: string,
  onFrame: (event: string, data: string) => void,
  signal: AbortSignal,
  retryMs = 2_000,
): Promise<void> {
  while (!signal.aborted) {
    try {
      let res = await fetch(path, { headers: auth(), signal, credentials: "include" });
      if (res.status === 401 && (await refreshSession())) {
        res = await fetch(path, { headers: auth(), signal, credentials: "include" });
      }
      if (res.ok && res.body) {
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          const { frames, rest } = parseFrames(buffer + value);
          buffer = rest;
          frames.forEach((f) => onFrame(f.event, f.data));
        }
      }
    } catch {
      if (signal.aborted) return;
    }
    await new Promise((r) => setTimeout(r, retryMs));
  }
}

function auth(): Record<string, string> {
  const token = getAccessToken();
  return token ? { authorization: `Bearer ${token}`, accept: "text/event-stream" } : { accept: "text/event-stream" };
}
