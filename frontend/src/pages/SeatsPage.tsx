// `/events/{id}/seats`: pick seats on the map (up to the per-fan limit) and hold them.
// Availability refreshes every few seconds; a seat someone else took first is named,
// dropped from the selection and shown as taken at once.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useMemo, useRef, useState } from "react";
import { useNavigate, useParams } from "react-router";
import { api, ApiError, newIdempotencyKey, unwrap } from "../api/client";
import { ProblemMessage, useProblemText } from "../components/ProblemMessage";
import { SeatMap, type SeatState } from "../components/SeatMap";
import { useLang } from "../i18n";
import { formatWon } from "../lib/format";

export default function SeatsPage() {
  const { id = "" } = useParams();
  const { t, lang } = useLang();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const problemText = useProblemText();
  const path = { event_id: id };
  const detail = useQuery({
    queryKey: ["event", id],
    queryFn: () => unwrap(api.GET("/api/v1/events/{event_id}", { params: { path } })),
  });
  const live = useQuery({
    queryKey: ["seats", id],
    queryFn: () => unwrap(api.GET("/api/v1/events/{event_id}/seats", { params: { path } })),
    refetchInterval: 5_000,
  });
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [takenHere, setTakenHere] = useState<ReadonlySet<string>>(new Set());
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const key = useRef<string | null>(null);

  const states = useMemo(() => {
    const m = new Map<string, SeatState>();
    for (const s of live.data?.seats ?? []) m.set(s.id, s.status as SeatState);
    for (const id of takenHere) if ((m.get(id) ?? "available") === "available") m.set(id, "held");
    return m;
  }, [live.data, takenHere]);

  const limit = detail.data?.max_tickets_per_user ?? 4;
  const seatsById = useMemo(() => {
    const m = new Map<string, { label: string; price: number }>();
    for (const sec of detail.data?.seat_map?.sections ?? [])
      for (const row of sec.rows) for (const s of row.seats) m.set(s.id, s);
    return m;
  }, [detail.data]);

  const onToggle = useCallback(
    (seatId: string) => {
      setMessage(null);
      setSelected((cur) => {
        const next = new Set(cur);
        if (next.has(seatId)) next.delete(seatId);
        else if ((states.get(seatId) ?? "available") !== "available") return cur;
        else if (next.size >= limit) {
          setMessage(t("seats.limit", { count: limit }));
          return cur;
        } else next.add(seatId);
        key.current = null;
        return next;
      });
    },
    [states, limit, t],
  );

  const hold = async () => {
    setBusy(true);
    setError(null);
    setMessage(null);
    key.current ??= newIdempotencyKey();
    try {
      const r = await unwrap(
        api.POST("/api/v1/events/{event_id}/reservations", {
          params: { path, header: { "Idempotency-Key": key.current } },
          body: { seat_ids: [...selected] },
        }),
      );
      navigate(`/checkout/${r.id}`);
    } catch (e) {
      if (e instanceof ApiError && e.code === "SEAT_UNAVAILABLE") {
        const taken = ((e.problem.seats as string[] | undefined) ?? []).filter((s) => selected.has(s));
        const labels = taken.map((s) => seatsById.get(s)?.label ?? s).join(", ");
        setTakenHere((cur) => new Set([...cur, ...taken]));
        setSelected((cur) => new Set([...cur].filter((s) => !taken.includes(s))));
        setMessage(t("seats.justTaken", { seats: labels }));
        key.current = null;
        void queryClient.invalidateQueries({ queryKey: ["seats", id] });
      } else {
        setError(e);
      }
    } finally {
      setBusy(false);
    }
  };

  if (detail.error) return <ProblemMessage error={detail.error} />;
  const e = detail.data;
  if (!e) return <p className="muted" role="status">{t("common.loading")}</p>;
  if (!e.seat_map) return <p>{t("seats.noMap")}</p>;
  const total = [...selected].reduce((sum, s) => sum + (seatsById.get(s)?.price ?? 0), 0);

  return (
    <section>
      <h1>{e.title}</h1>
      <p className="muted">{t("seats.intro", { count: limit })}</p>
      {message && <p className="banner warn" role="alert">{message}</p>}
      {error ? <p className="banner error" role="alert">{problemText(error)}</p> : null}
      {live.data && (
        <p className="muted">
          {t("seats.counts", {
            available: live.data.counts.available.toLocaleString(),
            held: live.data.counts.held.toLocaleString(),
            sold: live.data.counts.sold.toLocaleString(),
          })}
        </p>
      )}
      <div className="seats-layout">
        <SeatMap map={e.seat_map} states={states} selected={selected} onToggle={onToggle} />
        <aside className="summary" aria-label={t("seats.summary")}>
          <h2>{t("seats.selectedTitle", { count: selected.size, limit })}</h2>
          <ul>
            {[...selected].map((s) => (
              <li key={s}>
                {seatsById.get(s)?.label} · {formatWon(seatsById.get(s)?.price ?? 0, lang)}
              </li>
            ))}
          </ul>
          <p className="total">{t("common.total")}: {formatWon(total, lang)}</p>
          <button type="button" className="primary" disabled={selected.size === 0 || busy} onClick={() => void hold()}>
            {t("seats.hold")}
          </button>
        </aside>
      </div>
    </section>
  );
}
