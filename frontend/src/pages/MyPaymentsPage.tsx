// `/me/payments`: every payment of the fan, newest first, with what it paid for and
// each refund, so a fan can follow their money.
import { useInfiniteQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { api, unwrap } from "../api/client";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatDateTime, formatWon } from "../lib/format";

export default function MyPaymentsPage() {
  const { t, lang } = useLang();
  const list = useInfiniteQuery({
    queryKey: ["my-payments"],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(api.GET("/api/v1/me/payments", { params: { query: { cursor: pageParam, limit: 20 } } })),
    getNextPageParam: (p) => p.next_cursor ?? undefined,
  });
  const items = (list.data?.pages ?? []).flatMap((p) => p.items);
  return (
    <section>
      <h1>{t("payments.title")}</h1>
      <ProblemMessage error={list.error} />
      {list.isPending && <p role="status">{t("common.loading")}</p>}
      {!list.isPending && items.length === 0 && <p className="muted">{t("payments.none")}</p>}
      <ul className="rows">
        {items.map((p) => (
          <li key={p.order_id} className="row-card">
            <div>
              <strong>
                {p.event_id ? <Link to={`/events/${p.event_id}`}>{p.event_title}</Link> : p.artist_name}
              </strong>{" "}
              <span className="muted">{t(`payments.kind.${p.kind}`)}</span>
              <p className="muted">
                {formatDateTime(p.created_at, lang)} · <code>{p.order_id}</code>
                {p.method ? ` · ${p.method}` : ""}
              </p>
              <span className={`badge ${p.status}`}>{t(`payments.status.${p.status}`)}</span>
              {p.refunds.map((r) => (
                <p key={r.id} className="muted">
                  {t(`payments.refund.${r.status}`, { amount: formatWon(r.amount, lang) })}
                  {r.completed_at ? ` · ${formatDateTime(r.completed_at, lang)}` : ""}
                </p>
              ))}
            </div>
            <div className="total">{formatWon(p.amount, lang)}</div>
          </li>
        ))}
      </ul>
      {list.hasNextPage && (
        <button type="button" onClick={() => void list.fetchNextPage()}>{t("common.more")}</button>
      )}
    </section>
  );
}
