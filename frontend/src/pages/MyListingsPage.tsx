// `/transfers/my`: the fan's listings, every status, with what they will receive, and
// a way to withdraw one that has not sold.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { api, unwrap } from "../api/client";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatDateTime, formatWon } from "../lib/format";
import { ListingFacts } from "./TransfersPage";

export default function MyListingsPage() {
  const { t, lang } = useLang();
  const queryClient = useQueryClient();
  const [error, setError] = useState<unknown>(null);
  const list = useQuery({
    queryKey: ["my-listings"],
    queryFn: () => unwrap(api.GET("/api/v1/me/transfer-listings")),
  });
  const withdraw = async (id: string) => {
    setError(null);
    try {
      await unwrap(api.DELETE("/api/v1/transfer-listings/{listing_id}", { params: { path: { listing_id: id } } }));
      await queryClient.invalidateQueries({ queryKey: ["my-listings"] });
    } catch (e) {
      setError(e);
    }
  };
  const items = list.data?.items ?? [];
  return (
    <section>
      <div className="title-row">
        <h1>{t("resale.mine")}</h1>
        <Link to="/me/payouts">{t("nav.payouts")}</Link>
      </div>
      <ProblemMessage error={list.error ?? error} />
      {list.isPending && <p role="status">{t("common.loading")}</p>}
      {!list.isPending && items.length === 0 && (
        <p className="muted">{t("resale.noneMine")} <Link to="/me/tickets">{t("nav.tickets")}</Link></p>
      )}
      <ul className="rows">
        {items.map((l) => (
          <li key={l.id} className="row-card">
            <div>
              <ListingFacts l={l} />
              <span className={`badge ${l.status}`}>{t(`resale.status.${l.status}`)}</span>
              {l.status === "listed" && (
                <p className="muted">{t("resale.until", { at: formatDateTime(l.expires_at, lang) })}</p>
              )}
            </div>
            <div className="total">
              {formatWon(l.price, lang)}
              <p className="muted">
                {t("resale.payoutLine", {
                  fee: formatWon(l.fee, lang),
                  percent: l.fee_percent,
                  payout: formatWon(l.payout, lang),
                })}
              </p>
              {l.status === "listed" && (
                <button type="button" onClick={() => void withdraw(l.id)}>{t("resale.withdraw")}</button>
              )}
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}
