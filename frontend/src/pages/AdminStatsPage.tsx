// `/admin/stats`: the platform's figures by Korean day (ticket sales, refunds,
// memberships, resales, new accounts) from `GET /admin/stats`. Days without any event
// are not listed: nothing is filled in.
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api, unwrap, type Schemas } from "../api/client";
import { BarChart } from "../components/BarChart";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatWon } from "../lib/format";

type Day = Schemas["DayFigures"];

const COUNTS: (keyof Day)[] = ["sales", "tickets", "refunds", "memberships_joined", "memberships_renewed", "resales", "new_users"];
const MONEY: (keyof Day)[] = ["revenue", "refunded", "membership_revenue", "resale_volume", "resale_fees"];

export default function AdminStatsPage() {
  const { t, lang } = useLang();
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [range, setRange] = useState<{ from?: string; to?: string }>({});
  const stats = useQuery({
    queryKey: ["admin-stats", range],
    queryFn: () => unwrap(api.GET("/api/v1/admin/stats", { params: { query: range } })),
    refetchInterval: 10_000,
  });
  const s = stats.data;
  return (
    <section>
      <h1>{t("stats.title")}</h1>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setRange({ from: from || undefined, to: to || undefined });
        }}
      >
        <label>
          {t("stats.from")} <input type="date" value={from} onChange={(e) => setFrom(e.target.value)} />
        </label>{" "}
        <label>
          {t("stats.to")} <input type="date" value={to} onChange={(e) => setTo(e.target.value)} />
        </label>{" "}
        <button type="submit">{t("stats.show")}</button>
      </form>
      <ProblemMessage error={stats.error} />
      {s && (
        <>
          <p className="muted">{t("stats.range", { from: s.from, to: s.to })}</p>
          <div className="tiles">
            {COUNTS.map((k) => (
              <div className="tile" key={k}>
                <div className="muted">{t(`stats.${k}`)}</div>
                <div className="figure" data-testid={`total-${k}`}>{Number(s.totals[k] ?? 0).toLocaleString()}</div>
              </div>
            ))}
            {MONEY.map((k) => (
              <div className="tile" key={k}>
                <div className="muted">{t(`stats.${k}`)}</div>
                <div className="figure" data-testid={`total-${k}`}>{formatWon(Number(s.totals[k] ?? 0), lang)}</div>
              </div>
            ))}
          </div>
          {s.days.length > 0 && (
            <figure>
              <figcaption>{t("stats.revenueByDay")}</figcaption>
              <BarChart title={t("stats.revenueByDay")} labels={s.days.map((d) => d.day ?? "")} values={s.days.map((d) => d.revenue)} />
            </figure>
          )}
          <table className="wide">
            <thead>
              <tr>
                <th scope="col">{t("stats.day")}</th>
                {[...COUNTS, ...MONEY].map((k) => (
                  <th scope="col" key={k}>{t(`stats.${k}`)}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {s.days.map((d) => (
                <tr key={d.day}>
                  <td>{d.day}</td>
                  {COUNTS.map((k) => (
                    <td className="num" key={k}>{Number(d[k] ?? 0).toLocaleString()}</td>
                  ))}
                  {MONEY.map((k) => (
                    <td className="num" key={k}>{formatWon(Number(d[k] ?? 0), lang)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
          {s.days.length === 0 && <p className="muted">{t("stats.none")}</p>}
        </>
      )}
    </section>
  );
}
