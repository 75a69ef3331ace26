// The membership and resale pages against a fake API: what a fan is told about their
// presale window, what the market shows and which calls buying and listing make.
import { afterEach, describe, expect, it, vi } from "vitest";
import { render, screen, fireEvent, waitFor } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { MemoryRouter, Route, Routes } from "react-router";
import type { ReactNode } from "react";
import { AuthProvider } from "../api/auth";
import EventPage from "./EventPage";
import TransfersPage from "./TransfersPage";
import MyListingsPage from "./MyListingsPage";
import { canRenew } from "./ArtistPage";

type Handler = (url: URL, req: Request) => Response | Promise<Response> | undefined;
const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** A fake API with a signed-in fan (the session endpoints) plus `handler`. */
function fakeApi(handler: Handler) {
  const calls: string[] = [];
  vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = input instanceof Request ? input : new Request(new URL(String(input), "http://app"), init);
    const url = new URL(req.url, "http://app");
    calls.push(`${req.method} ${url.pathname}${url.search}`);
    if (url.pathname === "/api/v1/auth/refresh") return json(200, { access_token: "t" });
    if (url.pathname === "/api/v1/me") {
      return json(200, { id: "u1", email: "fan@x", display_name: "팬", role: "fan" });
    }
    return (await handler(url, req)) ?? json(404, { code: "NOT_FOUND", status: 404, title: "", type: "" });
  });
  return calls;
}

function wrap(path: string, routes: ReactNode) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <AuthProvider>
        <MemoryRouter initialEntries={[path]}>
          <Routes>{routes}</Routes>
        </MemoryRouter>
      </AuthProvider>
    </QueryClientProvider>,
  );
}

afterEach(() => {
  vi.unstubAllGlobals();
});

const listing = (over: object = {}) => ({
  id: "l1", ticket_id: "t1", event_id: "e1", event_title: "아이유 콘서트", starts_at: "2027-01-10T10:00:00Z",
  venue_name: "블루스퀘어", artist_id: "a1", artist_name: "아이유", label: "A-1-3", face_value: 154000,
  price: 150000, fee: 7500, fee_percent: 5, total: 150000, payout: 142500, status: "listed",
  expires_at: "2027-01-09T10:00:00Z", created_at: "2026-12-01T00:00:00Z", ...over,
});

describe("presale on the event page", () => {
  it("tells a fan whose window is ahead when it opens, instead of a booking button", async () => {
    fakeApi((url) => {
      if (url.pathname === "/api/v1/events/e1") {
        return json(200, {
          id: "e1", title: "아이유 팬클럽 선예매", status: "on_sale", has_seat_map: true, queue_mode: "none",
          venue: { id: "v", name: "블루스퀘어", address: "서울", city: "서울" },
          artist: { id: "a1", name: "아이유" }, starts_at: "2027-01-10T10:00:00Z",
          sale_opens_at: "2026-12-05T00:00:00Z", sale_closes_at: "2027-01-09T10:00:00Z",
          max_tickets_per_user: 4, ticket_types: [], description: "",
          presale: {
            offsets: { diamond_mins: 0, gold_mins: 60, silver_mins: 1440, general_mins: 2880 },
            windows: [
              { tier: "DIAMOND", opens_at: "2026-12-05T00:00:00Z" },
              { tier: "GOLD", opens_at: "2026-12-05T01:00:00Z" },
              { tier: "SILVER", opens_at: "2026-12-06T00:00:00Z" },
              { tier: "BRONZE", opens_at: "2026-12-07T00:00:00Z" },
            ],
          },
          your_presale: { tier: "BRONZE", opens_at: "2026-12-07T00:00:00Z", open: false },
        });
      }
      if (url.pathname === "/api/v1/events/e1/seats") return json(200, { seats: [] });
    });
    wrap("/events/e1", <Route path="/events/:id" element={<EventPage />} />);
    expect(await screen.findByText(/부터 예매할 수 있습니다\./)).toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "예매하기" })).not.toBeInTheDocument();
    const schedule = screen.getByRole("table", { name: "선예매 일정" });
    expect(schedule).toHaveTextContent("다이아몬드");
    expect(schedule.querySelector('[aria-current="true"]')).toHaveTextContent("일반");
  });
});

describe("resale market", () => {
  it("shows price, face value and buys through a held order", async () => {
    const calls = fakeApi((url, req) => {
      if (url.pathname === "/api/v1/artists") return json(200, { items: [], next_cursor: null });
      if (url.pathname === "/api/v1/events") {
        return json(200, { items: [{ id: "e1", title: "아이유 콘서트" }], next_cursor: null });
      }
      if (url.pathname === "/api/v1/transfer-listings") return json(200, { items: [listing()], next_cursor: null });
      if (url.pathname === "/api/v1/transfer-listings/l1/purchase" && req.method === "POST") {
        return json(409, { code: "LISTING_RESERVED", status: 409, title: "", type: "", detail: "held" });
      }
    });
    wrap("/transfers", <Route path="/transfers" element={<TransfersPage />} />);
    expect(await screen.findByText("A-1-3")).toBeInTheDocument();
    expect(screen.getByText("정가 154,000원")).toBeInTheDocument();
    fireEvent.click(await screen.findByRole("button", { name: "구매하기" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("다른 팬이 결제 중입니다");
    expect(calls).toContain("POST /api/v1/transfer-listings/l1/purchase");
    // Choosing an event asks the market for that event only.
    fireEvent.change(screen.getByLabelText("공연"), { target: { value: "e1" } });
    await waitFor(() => expect(calls).toContain("GET /api/v1/transfer-listings?limit=20&event_id=e1"));
  });

  it("lets a seller withdraw an unsold listing and shows what they receive", async () => {
    let withdrawn = false;
    const calls = fakeApi((url, req) => {
      if (url.pathname === "/api/v1/me/transfer-listings") {
        return json(200, { items: [listing({ mine: true, status: withdrawn ? "withdrawn" : "listed" })] });
      }
      if (url.pathname === "/api/v1/transfer-listings/l1" && req.method === "DELETE") {
        withdrawn = true;
        return json(200, listing({ status: "withdrawn" }));
      }
    });
    wrap("/transfers/my", <Route path="/transfers/my" element={<MyListingsPage />} />);
    expect(await screen.findByText(/정산 142,500원/)).toBeInTheDocument();
    fireEvent.click(screen.getByRole("button", { name: "등록 취소" }));
    await waitFor(() => expect(screen.getByText("등록 취소", { selector: ".badge" })).toBeInTheDocument());
    expect(calls).toContain("DELETE /api/v1/transfer-listings/l1");
  });
});

describe("renewal", () => {
  it("is offered in the last 30 days, after expiry, or before joining", () => {
    const now = Date.parse("2026-12-05T00:00:00Z");
    expect(canRenew("2027-06-01T00:00:00Z", now)).toBe(false);
    expect(canRenew("2026-12-30T00:00:00Z", now)).toBe(true);
    expect(canRenew("2026-12-01T00:00:00Z", now)).toBe(true);
    expect(canRenew(null, now)).toBe(true);
  });
});
