// `/admin`: the operator's dashboard: events, reservations, revenue, today's sales (a
// Korean day), the newest reservations.
import { useQuery } from "@tanstack/react-query";
import { useMemo } from "react";
import { Link } from "react-router";
import { api, unwrap } from "../api/client";
import { BarChart } from "../components/BarChart";
import { ProblemMessage } from "../components/ProblemMessage";
import { ReservationTable } from "../components/ReservationTable";
import { useLang } from "../i18n";
import { formatWon } from "../lib/format";

export default function AdminPage() {
  const { t, lang } = useLang();
  const d = useQuery({
    queryKey: ["admin-dashboard"],
    queryFn: () => unwrap(api.GET("/api/v1/admin/dashboard")),
    refetchInterval: 10_000,
  });
  const byStatus = useMemo(() => {
    const counts = new Map<string, number>();
    for (const r of d.data?.latest_reservations ?? []) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
    return [...counts.entries()];
  }, [d.data]);
  if (d.error) return <ProblemMessage error={d.error} />;
  const x = d.data;
  if (!x) return <p role="status">{t("common.loading")}</p>;
  const cards: [string, string][] = [
    [t("admin.events"), `${x.events_on_sale.toLocaleString()} / ${x.events_total.toLocaleString()}`],
    [t("admin.reservations"), `${x.reservations_paid.toLocaleString()} / ${x.reservations_total.toLocaleString()}`],
    [t("admin.revenue"), formatWon(x.revenue_total, lang)],
    [t("admin.today"), `${t("admin.tickets", { count: x.today_tickets_sold })} · ${formatWon(x.today_revenue, lang)}`],
  ];
  return (
    <section>
      <div className="title-row">
        <h1>{t("admin.title")}</h1>
        <Link to="/admin/reservations">{t("admin.allReservations")}</Link>
        <Link to="/admin/payouts">{t("payouts.adminTitle")}</Link>
        <Link to="/admin/users">{t("users.title")}</Link>
        <Link to="/admin/stats">{t("stats.title")}</Link>
        <Link to="/admin/audit">{t("audit.title")}</Link>
      </div>
      <dl className="stat-cards">
        {cards.map(([k, v]) => (
          <div key={k} className="stat">
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      <h2>{t("admin.latest")}</h2>
      {byStatus.length > 0 && (
        <BarChart
          title={t("admin.latestByStatus")}
          labels={byStatus.map(([s]) => t(`reservation.status.${s}`))}
          values={byStatus.map(([, n]) => n)}
        />
      )}
      <ReservationTable items={x.latest_reservations} />
    </section>
  );
}
