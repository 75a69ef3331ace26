// Presale pieces shared by the event, artist and membership pages: the tier badge,
// an event's windows (with the signed-in fan's own), and the tier benefits table.
import { useQuery } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../api/client";
import { useLang } from "../i18n";
import { formatDateTime } from "../lib/format";

type Tier = Schemas["Tier"];

export function TierBadge({ tier }: { tier: Tier }) {
  const { t } = useLang();
  return <span className={`badge tier-${tier.toLowerCase()}`}>{t(`tier.${tier}`)}</span>;
}

/** An event's presale windows, DIAMOND first; the fan's own row is marked. */
export function PresaleWindows({
  schedule,
  mine,
}: {
  schedule: Schemas["PresaleSchedule"];
  mine?: Schemas["FanWindow"] | null;
}) {
  const { t, lang } = useLang();
  return (
    <table className="presale">
      <caption>{t("presale.title")}</caption>
      <thead>
        <tr>
          <th scope="col">{t("presale.tier")}</th>
          <th scope="col">{t("presale.opens")}</th>
        </tr>
      </thead>
      <tbody>
        {schedule.windows.map((w) => (
          <tr key={w.tier} aria-current={mine?.tier === w.tier ? "true" : undefined}>
            <td>
              <TierBadge tier={w.tier} /> {w.tier === "BRONZE" ? t("presale.general") : ""}
              {mine?.tier === w.tier && <strong> · {t("presale.you")}</strong>}
            </td>
            <td>{formatDateTime(w.opens_at, lang)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** What each tier gets: points needed, when it books by default, resale terms. */
export function TierBenefits() {
  const { t } = useLang();
  const tiers = useQuery({
    queryKey: ["tiers"],
    queryFn: () => unwrap(api.GET("/api/v1/memberships/tiers")),
    staleTime: Infinity,
  });
  return (
    <table className="benefits">
      <caption>{t("membership.benefits")}</caption>
      <thead>
        <tr>
          <th scope="col">{t("presale.tier")}</th>
          <th scope="col">{t("membership.minPoints")}</th>
          <th scope="col">{t("membership.presale")}</th>
          <th scope="col">{t("membership.resale")}</th>
        </tr>
      </thead>
      <tbody>
        {(tiers.data ?? []).map((b) => (
          <tr key={b.tier}>
            <td><TierBadge tier={b.tier} /></td>
            <td>{b.min_points == null ? t("membership.nonMember") : b.min_points.toLocaleString()}</td>
            <td>
              {b.default_presale_mins === 0
                ? t("membership.atOpening")
                : t("membership.afterOpening", { hours: b.default_presale_mins / 60 })}
            </td>
            <td>
              {b.resale ? t("membership.resaleFee", { percent: b.resale_fee_percent }) : t("membership.noResale")}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
