// `/admin/reservations`: every reservation, filtered by status, event and text, with
// refunds (always in full) behind a confirmation.
import { useInfiniteQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, unwrap, type Schemas } from "../api/client";
import { ProblemMessage } from "../components/ProblemMessage";
import { ReservationTable } from "../components/ReservationTable";
import { useLang } from "../i18n";
import { formatWon } from "../lib/format";

const STATUSES = ["", "pending", "confirmed", "cancelled", "expired", "refunded"] as const;

export default function AdminReservationsPage() {
  const { t, lang } = useLang();
  const queryClient = useQueryClient();
  const [status, setStatus] = useState("");
  const [eventId, setEventId] = useState("");
  const [q, setQ] = useState("");
  const [applied, setApplied] = useState({ status: "", eventId: "", q: "" });
  const [refunding, setRefunding] = useState<Schemas["AdminReservation"] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const list = useInfiniteQuery({
    queryKey: ["admin-reservations", applied],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET("/api/v1/admin/reservations", {
          params: {
            query: {
              status: applied.status || undefined,
              event_id: applied.eventId || undefined,
              q: applied.q || undefined,
              cursor: pageParam,
              limit: 50,
            },
          },
        }),
      ),
    getNextPageParam: (p) => p.next_cursor ?? undefined,
  });
  const refund = async () => {
    if (!refunding) return;
    setError(null);
    try {
      await unwrap(
        api.POST("/api/v1/admin/reservations/{reservation_id}/refund", {
          params: { path: { reservation_id: refunding.id } },
        }),
      );
      setDone(t("admin.refunded", { amount: formatWon(refunding.total_amount, lang) }));
      setRefunding(null);
      await queryClient.invalidateQueries({ queryKey: ["admin-reservations"] });
    } catch (e) {
      setError(e);
      setRefunding(null);
    }
  };
  const items = (list.data?.pages ?? []).flatMap((p) => p.items);
  return (
    <section>
      <h1>{t("admin.allReservations")}</h1>
      <form className="filters" role="search" onSubmit={(e) => {
        e.preventDefault();
        setApplied({ status, eventId: eventId.trim(), q: q.trim() });
      }}>
        <label>
          {t("promoter.status")}
          <select value={status} onChange={(e) => setStatus(e.target.value)}>
            {STATUSES.map((s) => <option key={s} value={s}>{s ? t(`reservation.status.${s}`) : t("events.tab.all")}</option>)}
          </select>
        </label>
        <label>
          {t("admin.eventId")}
          <input value={eventId} onChange={(e) => setEventId(e.target.value)} />
        </label>
        <label>
          {t("admin.search")}
          <input type="search" value={q} onChange={(e) => setQ(e.target.value)} />
        </label>
        <button type="submit">{t("events.searchButton")}</button>
      </form>
      {done && <p className="banner info" role="status">{done}</p>}
      <ProblemMessage error={error ?? list.error} />
      <ReservationTable items={items} onRefund={setRefunding} />
      {list.hasNextPage && <button type="button" onClick={() => void list.fetchNextPage()}>{t("common.more")}</button>}
      {refunding && (
        <div role="dialog" aria-modal="true" aria-labelledby="refund-title" className="dialog">
          <h2 id="refund-title">{t("admin.refundTitle")}</h2>
          <p>{refunding.user_name} · {refunding.event_title} · {formatWon(refunding.total_amount, lang)}</p>
          <div className="actions">
            <button type="button" className="danger" onClick={() => void refund()}>{t("admin.refundConfirm")}</button>
            <button type="button" onClick={() => setRefunding(null)}>{t("common.close")}</button>
          </div>
        </div>
      )}
    </section>
  );
}
