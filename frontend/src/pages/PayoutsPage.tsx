// `/me/payouts` (a seller's money from resales) and `/admin/payouts` (every payout;
// an admin marks one paid once the money has been sent).
import { useInfiniteQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, unwrap, type Schemas } from "../api/client";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatDateTime, formatWon } from "../lib/format";

export default function PayoutsPage({ admin = false }: { admin?: boolean }) {
  const { t, lang } = useLang();
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<Schemas["PayoutStatus"] | "">(admin ? "pending" : "");
  const [error, setError] = useState<unknown>(null);
  const key = ["payouts", admin, status];
  const list = useInfiniteQuery({
    queryKey: key,
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) => {
      const query = { cursor: pageParam, limit: 20, status: status || undefined };
      return unwrap(
        admin
          ? api.GET("/api/v1/admin/payouts", { params: { query } })
          : api.GET("/api/v1/me/payouts", { params: { query } }),
      );
    },
    getNextPageParam: (p) => p.next_cursor ?? undefined,
  });
  const markPaid = async (id: string) => {
    setError(null);
    try {
      await unwrap(api.POST("/api/v1/admin/payouts/{payout_id}/paid", { params: { path: { payout_id: id } } }));
      await queryClient.invalidateQueries({ queryKey: ["payouts"] });
    } catch (e) {
      setError(e);
    }
  };
  const items = (list.data?.pages ?? []).flatMap((p) => p.items);
  return (
    <section>
      <h1>{admin ? t("payouts.adminTitle") : t("nav.payouts")}</h1>
      <label>
        {t("payouts.filter")}{" "}
        <select value={status} onChange={(e) => setStatus(e.target.value as Schemas["PayoutStatus"] | "")}>
          <option value="">{t("payouts.all")}</option>
          <option value="pending">{t("payouts.status.pending")}</option>
          <option value="paid">{t("payouts.status.paid")}</option>
          <option value="cancelled">{t("payouts.status.cancelled")}</option>
        </select>
      </label>
      <ProblemMessage error={list.error ?? error} />
      {list.isPending && <p role="status">{t("common.loading")}</p>}
      {!list.isPending && items.length === 0 && <p className="muted">{t("payouts.none")}</p>}
      <ul className="rows">
        {items.map((p) => (
          <li key={p.id} className="row-card">
            <div>
              <strong>{p.event_title}</strong> · {p.label}
              <p className="muted">
                {formatDateTime(p.created_at, lang)} ·{" "}
                {t("payouts.breakdown", { price: formatWon(p.price, lang), fee: formatWon(p.fee, lang) })}
              </p>
              <span className={`badge ${p.status}`}>{t(`payouts.status.${p.status}`)}</span>
              {p.paid_at && <span className="muted"> · {formatDateTime(p.paid_at, lang)}</span>}
            </div>
            <div className="total">
              {formatWon(p.amount, lang)}
              {admin && p.status === "pending" && (
                <p>
                  <button type="button" onClick={() => void markPaid(p.id)}>{t("payouts.markPaid")}</button>
                </p>
              )}
            </div>
          </li>
        ))}
      </ul>
      {list.hasNextPage && (
        <button type="button" onClick={() => void list.fetchNextPage()}>{t("common.more")}</button>
      )}
    </section>
  );
}
