// `/promoter/events/{id}/dashboard`: an on-sale as it happens. Totals and the
// per-minute series come from `GET /events/{id}/stats`, then the live stream
// (`/stats/live`) moves the tiles and appends minutes every few seconds. The waiting
// room panel shows each edge's line and tier 2, with pause, resume and the admission
// rate (each a new rules version pushed to the edges).
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { Link, useParams } from "react-router";
import { api, ApiError, unwrap, type Schemas } from "../api/client";
import { LineChart } from "../components/LineChart";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatDateTime, formatWon } from "../lib/format";
import { streamEvents } from "../lib/live";

type Point = Schemas["MinutePoint"];
type Frame = Schemas["LiveFrame"];

/** The series keyed by minute, the live stream's recent minutes merged in. */
function merge(series: Point[], recent: Point[]): Point[] {
  const byMinute = new Map(series.map((p) => [p.minute, p]));
  for (const p of recent) byMinute.set(p.minute, p);
  return [...byMinute.values()].sort((a, b) => a.minute.localeCompare(b.minute));
}

function Tile({ label, value, id }: { label: string; value: string; id: string }) {
  return (
    <div className="tile">
      <div className="muted">{label}</div>
      <div className="figure" data-testid={id}>{value}</div>
    </div>
  );
}

function RoomPanel({ eventId }: { eventId: string }) {
  const { t } = useLang();
  const queryClient = useQueryClient();
  const [rate, setRate] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState("");
  const room = useQuery({
    queryKey: ["room", eventId],
    queryFn: () =>
      unwrap(api.GET("/api/v1/events/{event_id}/queue/stats", { params: { path: { event_id: eventId } } })),
    refetchInterval: 3_000,
    retry: (n, e) => !(e instanceof ApiError && e.status === 404) && n < 1,
  });
  if (room.error instanceof ApiError && room.error.status === 404) {
    return <p className="muted">{t("dashboard.noRoom")}</p>;
  }
  const r = room.data;
  if (!r) return <ProblemMessage error={room.error} />;
  const act = async (call: () => Promise<Schemas["EdgeRulesView"]>, done: string) => {
    setError(null);
    setNotice("");
    try {
      const v = await call();
      setNotice(t(done, { version: v.version }));
      await queryClient.invalidateQueries({ queryKey: ["room", eventId] });
    } catch (e) {
      setError(e);
    }
  };
  const path = { params: { path: { event_id: eventId } } };
  return (
    <section aria-labelledby="room-title">
      <h2 id="room-title">{t("dashboard.room")}</h2>
      <p>
        <span className={`badge ${r.paused ? "cancelled" : "on_sale"}`} data-testid="room-state">
          {t(r.paused ? "dashboard.paused" : "dashboard.admitting")}
        </span>{" "}
        {t("dashboard.rate", { rate: r.new_users_per_minute.toLocaleString() })} ·{" "}
        {t("dashboard.capacity", { capacity: r.max_active.toLocaleString() })} · v{r.rules_version}
      </p>
      <div className="actions">
        {r.paused ? (
          <button type="button" onClick={() => void act(() => unwrap(api.POST("/api/v1/events/{event_id}/queue/resume", path)), "dashboard.resumed")}>
            {t("dashboard.resume")}
          </button>
        ) : (
          <button type="button" className="danger" onClick={() => void act(() => unwrap(api.POST("/api/v1/events/{event_id}/queue/pause", path)), "dashboard.pausedNotice")}>
            {t("dashboard.pause")}
          </button>
        )}
        <form
          onSubmit={(e) => {
            e.preventDefault();
            const n = Number(rate);
            void act(
              () =>
                unwrap(
                  api.PUT("/api/v1/events/{event_id}/queue/rate", {
                    ...path,
                    body: { new_users_per_minute: n },
                  }),
                ),
              "dashboard.rateSaved",
            );
          }}
        >
          <label>
            {t("dashboard.newRate")}{" "}
            <input type="number" min={1} max={1000000} required value={rate} onChange={(e) => setRate(e.target.value)} />
          </label>{" "}
          <button type="submit">{t("dashboard.setRate")}</button>
        </form>
      </div>
      {notice && <p role="status" className="banner info">{notice}</p>}
      <ProblemMessage error={error} />
      <table>
        <thead>
          <tr>
            <th scope="col">{t("dashboard.line")}</th>
            <th scope="col">{t("dashboard.joined")}</th>
            <th scope="col">{t("dashboard.served")}</th>
          </tr>
        </thead>
        <tbody>
          {r.edges.map((e) => (
            <tr key={e.edge_url}>
              <td>{e.edge_url}</td>
              <td className="num">{e.joined?.toLocaleString() ?? "—"}</td>
              <td className="num">{e.error ? <span className="muted">{e.error}</span> : (e.served?.toLocaleString() ?? "—")}</td>
            </tr>
          ))}
          <tr>
            <td>{t("dashboard.tier2")}</td>
            <td className="num" data-testid="room-waiting">{t("dashboard.waitingN", { count: r.waiting ?? 0 })}</td>
            <td className="num">{t("dashboard.activeN", { count: r.active ?? 0 })}</td>
          </tr>
        </tbody>
      </table>
    </section>
  );
}

function StaffPanel({ eventId }: { eventId: string }) {
  const { t } = useLang();
  const queryClient = useQueryClient();
  const [email, setEmail] = useState("");
  const [error, setError] = useState<unknown>(null);
  const path = { params: { path: { event_id: eventId } } };
  const staff = useQuery({
    queryKey: ["staff", eventId],
    queryFn: () => unwrap(api.GET("/api/v1/events/{event_id}/staff", path)),
  });
  const run = async (call: () => Promise<unknown>) => {
    setError(null);
    try {
      await call();
      await queryClient.invalidateQueries({ queryKey: ["staff", eventId] });
    } catch (e) {
      setError(e);
    }
  };
  return (
    <section aria-labelledby="staff-title">
      <h2 id="staff-title">{t("door.staff")}</h2>
      <ul>
        {(staff.data?.items ?? []).map((m) => (
          <li key={m.user_id}>
            {m.display_name} <span className="muted">{m.email}</span>{" "}
            <button
              type="button"
              className="link danger"
              onClick={() =>
                void run(() =>
                  unwrap(
                    api.DELETE("/api/v1/events/{event_id}/staff/{user_id}", {
                      params: { path: { event_id: eventId, user_id: m.user_id } },
                    }),
                  ),
                )
              }
            >
              {t("door.remove")}
            </button>
          </li>
        ))}
      </ul>
      {staff.data?.items.length === 0 && <p className="muted">{t("door.noStaff")}</p>}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            await unwrap(api.POST("/api/v1/events/{event_id}/staff", { ...path, body: { email } }));
            setEmail("");
          });
        }}
      >
        <label>
          {t("door.staffEmail")} <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>{" "}
        <button type="submit">{t("door.assign")}</button>{" "}
        <Link to={`/door?event=${eventId}`}>{t("door.open")}</Link>
      </form>
      <ProblemMessage error={error ?? staff.error} />
    </section>
  );
}

export default function EventDashboardPage() {
  const { id = "" } = useParams();
  const { t, lang } = useLang();
  const event = useQuery({
    queryKey: ["event", id],
    queryFn: () => unwrap(api.GET("/api/v1/events/{event_id}", { params: { path: { event_id: id } } })),
  });
  const stats = useQuery({
    queryKey: ["event-stats", id],
    queryFn: () => unwrap(api.GET("/api/v1/events/{event_id}/stats", { params: { path: { event_id: id } } })),
  });
  const [frame, setFrame] = useState<Frame | null>(null);
  const [recent, setRecent] = useState<Point[]>([]);
  useEffect(() => {
    const stop = new AbortController();
    void streamEvents(
      `/api/v1/events/${id}/stats/live`,
      (kind, data) => {
        if (kind !== "stats") return;
        const f = JSON.parse(data) as Frame;
        setFrame(f);
        setRecent((old) => merge(old, f.recent));
      },
      stop.signal,
    );
    return () => stop.abort();
  }, [id]);
  const series = useMemo(() => merge(stats.data?.series ?? [], recent), [stats.data, recent]);
  const s = stats.data;
  const at = (p: Point) => Date.parse(p.minute);
  const salesSeries = [
    { name: t("dashboard.sales"), color: "#5b3df5", points: series.map((p) => [at(p), p.tickets] as [number, number]) },
    { name: t("dashboard.holds"), color: "#f59e0b", points: series.map((p) => [at(p), p.holds] as [number, number]) },
  ];
  const revenueSeries = [
    { name: t("dashboard.revenue"), color: "#059669", points: series.map((p) => [at(p), p.revenue] as [number, number]) },
  ];
  const queued = series.filter((p) => p.queue_waiting != null || p.admitted != null);
  const queueSeries = [
    { name: t("dashboard.queueLength"), color: "#dc2626", points: queued.map((p) => [at(p), p.queue_waiting ?? 0] as [number, number]) },
    { name: t("dashboard.admittedPerMinute"), color: "#2563eb", points: queued.map((p) => [at(p), p.admitted ?? 0] as [number, number]) },
  ];
  return (
    <section>
      <p><Link to="/promoter">{t("promoter.title")}</Link></p>
      <h1>{t("dashboard.title", { title: event.data?.title ?? "" })}</h1>
      <ProblemMessage error={stats.error ?? event.error} />
      <p className="muted" role="status" aria-live="off">
        {frame ? t("dashboard.live", { at: formatDateTime(frame.at, lang) }) : t("dashboard.connecting")}
      </p>
      <div className="tiles">
        <Tile id="tickets-sold" label={t("dashboard.ticketsSold")} value={(frame?.tickets_sold ?? s?.tickets_sold ?? 0).toLocaleString()} />
        <Tile id="revenue" label={t("dashboard.revenue")} value={formatWon(frame?.revenue ?? s?.revenue ?? 0, lang)} />
        <Tile id="holds-active" label={t("dashboard.holdsActive")} value={(frame?.holds_active ?? s?.holds_active ?? 0).toLocaleString()} />
        <Tile id="available" label={t("dashboard.available")} value={(frame?.available ?? s?.available ?? 0).toLocaleString()} />
        {frame?.waiting != null && (
          <Tile id="waiting" label={t("dashboard.queueLength")} value={frame.waiting.toLocaleString()} />
        )}
        {frame?.admission_rate != null && (
          <Tile id="admission-rate" label={t("dashboard.admissionRate")} value={Math.round(frame.admission_rate).toLocaleString()} />
        )}
      </div>
      {s && (
        <p className="muted">
          {t("dashboard.totals", {
            holds: s.holds.toLocaleString(),
            expiries: s.expiries.toLocaleString(),
            refunds: s.refunds.toLocaleString(),
            refunded: formatWon(s.refunded, lang),
          })}
          {s.queue?.wait_p50_secs != null &&
            ` · ${t("dashboard.wait", { p50: s.queue.wait_p50_secs, p90: s.queue.wait_p90_secs ?? "—" })}`}
        </p>
      )}
      <div className="charts">
        <figure>
          <figcaption>{t("dashboard.salesChart")}</figcaption>
          <LineChart title={t("dashboard.salesChart")} series={salesSeries} />
        </figure>
        <figure>
          <figcaption>{t("dashboard.revenueChart")}</figcaption>
          <LineChart title={t("dashboard.revenueChart")} series={revenueSeries} />
        </figure>
        {queued.length > 0 && (
          <figure>
            <figcaption>{t("dashboard.queueChart")}</figcaption>
            <LineChart title={t("dashboard.queueChart")} series={queueSeries} />
          </figure>
        )}
      </div>
      <RoomPanel eventId={id} />
      <StaffPanel eventId={id} />
    </section>
  );
}
