// `/me/memberships`: each fan club: tier, points, dates, pay or renew, the points
// history, and what each tier gets.
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { api, unwrap, type Schemas } from "../api/client";
import { TierBadge, TierBenefits } from "../components/Presale";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatDateTime, formatWon } from "../lib/format";
import { usePayOrder } from "../lib/order";
import { canRenew } from "./ArtistPage";

function Ledger({ id }: { id: string }) {
  const { t, lang } = useLang();
  const list = useInfiniteQuery({
    queryKey: ["points", id],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET("/api/v1/me/memberships/{membership_id}/points", {
          params: { path: { membership_id: id }, query: { cursor: pageParam, limit: 20 } },
        }),
      ),
    getNextPageParam: (p) => p.next_cursor ?? undefined,
  });
  const items = (list.data?.pages ?? []).flatMap((p) => p.items);
  return (
    <>
      <ul className="ledger">
        {items.map((e) => (
          <li key={e.id}>
            <span className={e.points < 0 ? "minus" : "plus"}>{e.points > 0 ? `+${e.points}` : e.points}</span>{" "}
            {t(`points.${e.reason}`)}
            {e.clawback_of ? ` · ${t("points.clawback")}` : ""} · {formatDateTime(e.created_at, lang)}
          </li>
        ))}
      </ul>
      {list.hasNextPage && (
        <button type="button" onClick={() => void list.fetchNextPage()}>{t("common.more")}</button>
      )}
    </>
  );
}

function MembershipCard({ m }: { m: Schemas["MembershipView"] }) {
  const { t, lang } = useLang();
  const [open, setOpen] = useState(false);
  const { pay, error, busy } = usePayOrder();
  const name = lang === "en" && m.artist.name_en ? m.artist.name_en : m.artist.name;
  const renew = () =>
    void pay(
      m.pending_order ??
        unwrap(
          api.POST("/api/v1/artists/{artist_id}/memberships", { params: { path: { artist_id: m.artist_id } } }),
        ).then((r) => r.order),
      "/me/memberships",
    );
  return (
    <li className="card" aria-labelledby={`m-${m.id}`}>
      <h2 id={`m-${m.id}`}><Link to={`/artists/${m.artist_id}`}>{name}</Link></h2>
      <p>
        <TierBadge tier={m.tier} /> <span className={`badge ${m.status}`}>{t(`membership.status.${m.status}`)}</span>
      </p>
      <p>{t("membership.points", { count: m.points })}</p>
      {m.expires_at && <p className="muted">{t("membership.until", { at: formatDateTime(m.expires_at, lang) })}</p>}
      <ProblemMessage error={error} />
      {(m.pending_order || m.status !== "active" || canRenew(m.expires_at, Date.now())) && (
        <button type="button" className="primary" disabled={busy} onClick={renew}>
          {m.status === "pending"
            ? t("membership.payNow", { price: formatWon(m.pending_order?.amount ?? m.artist.membership_price, lang) })
            : t("artist.renew", { price: formatWon(m.pending_order?.amount ?? m.artist.membership_price, lang) })}
        </button>
      )}
      <button type="button" className="link" aria-expanded={open} onClick={() => setOpen(!open)}>
        {t("membership.history")}
      </button>
      {open && <Ledger id={m.id} />}
    </li>
  );
}

export default function MyMembershipsPage() {
  const { t } = useLang();
  const list = useQuery({
    queryKey: ["my-memberships"],
    queryFn: () => unwrap(api.GET("/api/v1/me/memberships")),
  });
  const items = list.data?.items ?? [];
  return (
    <section>
      <h1>{t("nav.memberships")}</h1>
      <ProblemMessage error={list.error} />
      {list.isPending && <p role="status">{t("common.loading")}</p>}
      {!list.isPending && items.length === 0 && (
        <p className="muted">
          {t("membership.none")} <Link to="/artists">{t("nav.artists")}</Link>
        </p>
      )}
      <ul className="cards">
        {items.map((m) => (
          <MembershipCard key={m.id} m={m} />
        ))}
      </ul>
      <TierBenefits />
    </section>
  );
}
