// `/promoter`: my events (all events for admins) with live sale counters, links to edit
// and to the waiting-room rules, and cancellation behind a dialog that first shows what
// it would release and refund.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { api, unwrap, type Schemas } from "../api/client";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatDateTime, formatWon } from "../lib/format";

type Managed = Schemas["ManagedEventView"];

export default function PromoterPage() {
  const { t, lang } = useLang();
  const queryClient = useQueryClient();
  const events = useQuery({
    queryKey: ["promoter-events"],
    queryFn: () => unwrap(api.GET("/api/v1/promoter/events", { params: { query: { limit: 100 } } })),
    refetchInterval: 5_000,
  });
  const [cancelling, setCancelling] = useState<Managed | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const preview = useQuery({
    queryKey: ["cancel-preview", cancelling?.id],
    enabled: !!cancelling,
    queryFn: () =>
      unwrap(api.GET("/api/v1/events/{event_id}/cancel-preview", { params: { path: { event_id: cancelling!.id } } })),
  });
  const cancel = async () => {
    if (!cancelling) return;
    setError(null);
    try {
      const r = await unwrap(
        api.POST("/api/v1/events/{event_id}/cancel", { params: { path: { event_id: cancelling.id } } }),
      );
      setDone(
        t("promoter.cancelled", {
          title: cancelling.title,
          holds: r.cancellation.holds_released,
          refunds: r.cancellation.refunds_requested,
        }),
      );
      setCancelling(null);
      await queryClient.invalidateQueries({ queryKey: ["promoter-events"] });
    } catch (e) {
      setError(e);
    }
  };
  const items = events.data?.items ?? [];
  return (
    <section>
      <div className="title-row">
        <h1>{t("promoter.title")}</h1>
        <Link className="button primary" to="/promoter/events/new">{t("promoter.create")}</Link>
      </div>
      {done && <p className="banner info" role="status">{done}</p>}
      <ProblemMessage error={error ?? events.error} />
      <table className="wide">
        <thead>
          <tr>
            <th scope="col">{t("promoter.event")}</th>
            <th scope="col">{t("promoter.status")}</th>
            <th scope="col">{t("promoter.sold")}</th>
            <th scope="col">{t("promoter.held")}</th>
            <th scope="col">{t("promoter.available")}</th>
            <th scope="col">{t("promoter.revenue")}</th>
            <th scope="col"><span className="sr-only">{t("promoter.actions")}</span></th>
          </tr>
        </thead>
        <tbody>
          {items.map((e) => (
            <tr key={e.id}>
              <td>
                <Link to={`/events/${e.id}`}>{e.title}</Link>
                <div className="muted">{e.venue_name} · {formatDateTime(e.starts_at, lang)}</div>
              </td>
              <td><span className={`badge ${e.status}`}>{t(`status.${e.status}`)}</span></td>
              <td className="num">{e.tickets_sold.toLocaleString()}</td>
              <td className="num">{e.held.toLocaleString()}</td>
              <td className="num">{e.available.toLocaleString()}</td>
              <td className="num">{formatWon(e.revenue, lang)}</td>
              <td className="actions">
                <Link to={`/promoter/events/${e.id}/dashboard`}>{t("promoter.dashboard")}</Link>
                <Link to={`/promoter/events/${e.id}/edit`}>{t("promoter.edit")}</Link>
                <Link to={`/promoter/events/${e.id}/rules`}>{t("promoter.rules")}</Link>
                {e.status !== "cancelled" && (
                  <button type="button" className="link danger" onClick={() => setCancelling(e)}>
                    {t("promoter.cancel")}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {cancelling && (
        <div role="dialog" aria-modal="true" aria-labelledby="cancel-event" className="dialog">
          <h2 id="cancel-event">{t("promoter.cancelTitle", { title: cancelling.title })}</h2>
          {preview.data ? (
            <ul>
              <li>{t("promoter.previewHolds", { count: preview.data.holds_to_release, tickets: preview.data.tickets_held })}</li>
              <li>
                {t("promoter.previewRefunds", {
                  count: preview.data.paid_orders,
                  tickets: preview.data.tickets_paid,
                  amount: formatWon(preview.data.refund_total, lang),
                })}
              </li>
              <li>{t("promoter.previewRoom")}</li>
            </ul>
          ) : (
            <p role="status">{t("common.loading")}</p>
          )}
          <div className="actions">
            <button type="button" className="danger" disabled={!preview.data} onClick={() => void cancel()}>
              {t("promoter.cancelConfirm")}
            </button>
            <button type="button" onClick={() => setCancelling(null)}>{t("common.close")}</button>
          </div>
        </div>
      )}
    </section>
  );
}
