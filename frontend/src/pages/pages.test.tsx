// Pages against a fake API (fetch replaced), checking what the fan sees and which
// calls are made.
import { afterEach, describe, expect, it, vi } from "vitest";
import { act, render, screen, waitFor, fireEvent } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { MemoryRouter, Route, Routes } from "react-router";
import type { ReactNode } from "react";
import { EventsPage, inPriceRange } from "./EventsPage";
import QueuePage from "./QueuePage";
import { bookingTarget } from "./EventPage";
import { safeNext } from "./LoginPage";

type Handler = (url: URL, init: Request) => Response | Promise<Response>;
const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

function fakeApi(handler: Handler) {
  const calls: string[] = [];
  vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = input instanceof Request ? input : new Request(new URL(String(input), "http://app"), init);
    const url = new URL(req.url, "http://app");
    calls.push(`${req.method} ${url.pathname}${url.search}`);
    return handler(url, req);
  });
  return calls;
}

function wrap(path: string, routes: ReactNode) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>
        <Routes>{routes}</Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

const event = (id: string, status: string, title: string) => ({
  id, title, status, has_seat_map: true, venue: { id: "v", name: "잠실", address: "", city: "서울" },
  starts_at: "2027-01-01T10:00:00Z", sale_opens_at: "2026-12-01T01:00:00Z", sale_closes_at: "2026-12-31T10:00:00Z",
  min_price: 30000, max_price: 80000,
});

describe("events list", () => {
  it("asks for the chosen status tab and shows the events", async () => {
    const calls = fakeApi((url) =>
      url.searchParams.get("status") === "upcoming"
        ? json(200, { items: [event("b", "upcoming", "아이유 콘서트")], next_cursor: null })
        : json(200, { items: [event("a", "on_sale", "BTS 월드투어")], next_cursor: null }),
    );
    wrap("/", <Route path="/" element={<EventsPage />} />);
    expect(await screen.findByText("BTS 월드투어")).toBeInTheDocument();
    expect(screen.getByRole("tab", { name: "예매 중" })).toHaveAttribute("aria-selected", "true");
    fireEvent.click(screen.getByRole("tab", { name: "오픈 예정" }));
    expect(await screen.findByText("아이유 콘서트")).toBeInTheDocument();
    expect(calls.some((c) => c.includes("status=upcoming"))).toBe(true);
    expect(calls[0]).toContain("status=on_sale");
  });

  it("filters by price range overlap", () => {
    const e = { min_price: 30000, max_price: 80000 };
    expect(inPriceRange(e, 50000, undefined)).toBe(true);
    expect(inPriceRange(e, 90000, undefined)).toBe(false);
    expect(inPriceRange(e, undefined, 20000)).toBe(false);
    expect(inPriceRange({ min_price: null, max_price: null }, 1, 2)).toBe(false);
  });
});

describe("booking button", () => {
  it("goes where the event queues", () => {
    expect(bookingTarget({ id: "e", queue_mode: "edge", has_seat_map: true })).toEqual({ href: "/e/e", edge: true });
    expect(bookingTarget({ id: "e", queue_mode: "origin", has_seat_map: false })).toEqual({ href: "/events/e/queue", edge: false });
    expect(bookingTarget({ id: "e", queue_mode: "none", has_seat_map: true }).href).toBe("/events/e/seats");
    expect(bookingTarget({ id: "e", queue_mode: "none", has_seat_map: false }).href).toBe("/events/e/book");
  });
  it("never redirects outside the app after login", () => {
    expect(safeNext("/events/1/enter")).toBe("/events/1/enter");
    expect(safeNext("//evil.example")).toBe("/");
    expect(safeNext("https://evil.example")).toBe("/");
    expect(safeNext(null)).toBe("/");
  });
});

describe("queue page", () => {
  it("joins with the pass cookie, waits as told, then moves on to the seats", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let polls = 0;
    const calls = fakeApi((url, req) => {
      if (url.pathname.endsWith("/queue/join")) {
        return json(201, { event_id: "e", state: "waiting", position: 40, ahead: 12, eta_seconds: 90, poll_after_ms: 2000 });
      }
      if (url.pathname.endsWith("/queue/status")) {
        polls++;
        return json(200, { event_id: "e", state: "admitted", position: 40, poll_after_ms: 30000 });
      }
      if (url.pathname === "/api/v1/events/e") return json(200, { ...event("e", "on_sale", "X"), has_seat_map: true });
      return json(404, { code: "NOT_FOUND", detail: req.url });
    });
    wrap(
      "/events/e/enter",
      <>
        <Route path="/events/:id/enter" element={<QueuePage edge />} />
        <Route path="/events/:id/seats" element={<p>seat map here</p>} />
      </>,
    );
    expect(await screen.findByText("내 순번 40번")).toBeInTheDocument();
    expect(screen.getByText("앞에 12명")).toBeInTheDocument();
    expect(screen.getByText("예상 대기 약 2분")).toBeInTheDocument();
    expect(polls).toBe(0);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(2100);
    });
    expect(await screen.findByText("seat map here")).toBeInTheDocument();
    expect(calls[0]).toBe("POST /api/v1/events/e/queue/join?delivery=cookie");
    expect(calls).toContain("GET /api/v1/events/e/queue/status?delivery=cookie");
  });

  it("sends a fan without a pass back to the waiting room", async () => {
    fakeApi(() => json(403, { code: "PASS_REQUIRED", detail: "join at the edge first", status: 403 }));
    wrap("/events/e/enter", <Route path="/events/:id/enter" element={<QueuePage edge />} />);
    expect(await screen.findByRole("alert")).toHaveTextContent("대기실을 거쳐 들어와 주세요.");
    await waitFor(() => expect(screen.getByRole("link", { name: "대기실로 돌아가기" })).toHaveAttribute("href", "/e/e"));
  });
});

describe("rules editor", () => {
  it("shows the server's field error next to its field and handles a version conflict", async () => {
    const { default: RulesEditorPage } = await import("./RulesEditorPage");
    const rules = {
      event_id: "e", version: 3, mode: "queue", method: "fifo", sale_opens_at: 1_800_000_000,
      new_users_per_minute: 600, max_active: 100, active_slot_secs: 300, protected_paths: [],
      template: { title_ko: "대기실", title_en: "Room", message_ko: "", message_en: "" },
    };
    let puts = 0;
    fakeApi((url, req) => {
      if (url.pathname === "/api/v1/events/e") return json(200, { ...event("e", "on_sale", "테스트 공연") });
      if (url.pathname.endsWith("/edge-rules/preview")) return new Response("<p>preview</p>", { status: 200 });
      if (url.pathname.endsWith("/edge-rules") && req.method === "GET") {
        return json(200, { event_id: "e", version: 3, rules, edge_tier: true, updated_at: "", deliveries: [], delivered: true });
      }
      if (url.pathname.endsWith("/edge-rules") && req.method === "PUT") {
        puts++;
        return puts === 1
          ? json(422, { code: "VALIDATION_FAILED", status: 422, detail: "bad", errors: [{ field: "rules.new_users_per_minute", message: "must be at least 1" }] })
          : json(409, { code: "RULES_VERSION_CONFLICT", status: 409, detail: "stale" });
      }
      return json(404, { code: "NOT_FOUND", detail: url.pathname });
    });
    wrap("/promoter/events/e/rules", <Route path="/promoter/events/:id/rules" element={<RulesEditorPage />} />);
    const rate = await screen.findByLabelText("분당 입장 인원");
    fireEvent.change(rate, { target: { value: "0" } });
    fireEvent.click(screen.getByRole("button", { name: "저장" }));
    const message = await screen.findByText("must be at least 1");
    expect(rate.closest("label")).toContainElement(message);
    expect(rate).toHaveAttribute("aria-describedby", "err-new_users_per_minute");
    // The next save meets a newer version: the editor says so and offers to reload.
    fireEvent.click(screen.getByRole("button", { name: "저장" }));
    expect(await screen.findByText(/다른 사람이 먼저 규칙을 바꿨습니다/)).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "최신 규칙 불러오기" })).toBeInTheDocument();
  });
});
