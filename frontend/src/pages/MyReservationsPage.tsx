// `/me/reservations`: newest first. Pending holds count down and can be paid or
// released; paid orders can be cancelled, and the dialog says first how much the
// refund policy gives back.
import { useInfiniteQuery, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { api, unwrap, type Schemas } from "../api/client";
import { Countdown } from "../components/Countdown";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { serverNow, useServerNow } from "../lib/clock";
import { formatDateTime, formatWon } from "../lib/format";
import { refundQuote } from "../lib/refund";

type Reservation = Schemas["Reservation"];

export default function MyReservationsPage() {
  const { t, lang } = useLang();
  const now = useServerNow();
  const queryClient = useQueryClient();
  const [error, setError] = useState<unknown>(null);
  const [confirming, setConfirming] = useState<Reservation | null>(null);
  const list = useInfiniteQuery({
    queryKey: ["my-reservations"],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(api.GET("/api/v1/me/reservations", { params: { query: { cursor: pageParam, limit: 20 } } })),
    getNextPageParam: (p) => p.next_cursor ?? undefined,
  });
  const config = useQuery({
    queryKey: ["payments-config"],
    queryFn: () => unwrap(api.GET("/api/v1/payments/config")),
    staleTime: Infinity,
  });
  const startsAt = useQuery({
    queryKey: ["event", confirming?.event_id],
    enabled: !!confirming,
    queryFn: () =>
      unwrap(api.GET("/api/v1/events/{event_id}", { params: { path: { event_id: confirming!.event_id } } })),
  });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["my-reservations"] });
  const release = async (r: Reservation) => {
    setError(null);
    try {
      await unwrap(api.DELETE("/api/v1/reservations/{reservation_id}", { params: { path: { reservation_id: r.id } } }));
      await refresh();
    } catch (e) {
      setError(e);
    }
  };
  const cancelPaid = async (r: Reservation) => {
    setError(null);
    try {
      await unwrap(api.POST("/api/v1/reservations/{reservation_id}/cancel", { params: { path: { reservation_id: r.id } } }));
      setConfirming(null);
      await refresh();
    } catch (e) {
      setError(e);
      setConfirming(null);
    }
  };
  const items = (list.data?.pages ?? []).flatMap((p) => p.items);
  const quote =
    confirming && config.data && startsAt.data
      ? refundQuote(confirming.amount, new Date(startsAt.data.starts_at).getTime(), serverNow(), config.data)
      : null;

  return (
    <section>
      <h1>{t("nav.reservations")}</h1>
      <ProblemMessage error={error ?? list.error} />
      {list.isPending && <p role="status">{t("common.loading")}</p>}
      {!list.isPending && items.length === 0 && <p className="muted">{t("reservation.none")}</p>}
      <ul className="rows">
        {items.map((r) => {
          const live = r.status === "pending" && new Date(r.expires_at).getTime() > now;
          return (
            <li key={r.id} className="row-card">
              <div>
                <strong>{r.event_title}</strong>
                <p className="muted">
                  {r.items.map((i) => `${i.label}${i.quantity > 1 ? ` ×${i.quantity}` : ""}`).join(", ")} ·{" "}
                  {formatWon(r.amount, lang)} · {formatDateTime(r.created_at, lang)}
                </p>
                <span className={`badge ${r.status}`}>{t(`reservation.status.${r.status}`)}</span>{" "}
                {live && <Countdown target={r.expires_at} label={t("checkout.holdEnds")} />}
              </div>
              <div className="actions">
                {live && <Link className="button primary" to={`/checkout/${r.id}`}>{t("reservation.pay")}</Link>}
                {live && (
                  <button type="button" onClick={() => void release(r)}>{t("reservation.release")}</button>
                )}
                {r.status === "confirmed" && (
                  <button type="button" onClick={() => setConfirming(r)}>{t("reservation.cancel")}</button>
                )}
              </div>
            </li>
          );
        })}
      </ul>
      {list.hasNextPage && (
        <button type="button" onClick={() => void list.fetchNextPage()}>{t("common.more")}</button>
      )}
      {confirming && (
        <div role="dialog" aria-modal="true" aria-labelledby="cancel-title" className="dialog">
          <h2 id="cancel-title">{t("reservation.cancelTitle")}</h2>
          <p>{confirming.event_title} · {formatWon(confirming.amount, lang)}</p>
          {quote ? (
            <p>
              {quote.kind === "full" && t("reservation.refundFull", { amount: formatWon(quote.amount, lang) })}
              {quote.kind === "partial" &&
                t("reservation.refundPartial", { amount: formatWon(quote.amount, lang), percent: quote.percent })}
              {quote.kind === "none" && t("reservation.refundNone")}
            </p>
          ) : (
            <p role="status">{t("common.loading")}</p>
          )}
          <div className="actions">
            <button type="button" className="danger" disabled={!quote || quote.kind === "none"}
              onClick={() => void cancelPaid(confirming)}>
              {t("reservation.cancelConfirm")}
            </button>
            <button type="button" onClick={() => setConfirming(null)}>{t("common.close")}</button>
          </div>
        </div>
      )}
    </section>
  );
}
