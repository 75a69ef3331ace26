import type { Schemas } from "../api/client";
import { useLang } from "../i18n";
import { formatDateTime, formatWon } from "../lib/format";

/** Reservations as an operator sees them; `onRefund` adds a refund button to paid ones. */
export function ReservationTable({
  items,
  onRefund,
}: {
  items: Schemas["AdminReservation"][];
  onRefund?: (r: Schemas["AdminReservation"]) => void;
}) {
  const { t, lang } = useLang();
  return (
    <table className="wide">
      <thead>
        <tr>
          <th scope="col">{t("admin.when")}</th>
          <th scope="col">{t("admin.fan")}</th>
          <th scope="col">{t("promoter.event")}</th>
          <th scope="col">{t("checkout.quantity")}</th>
          <th scope="col">{t("common.total")}</th>
          <th scope="col">{t("promoter.status")}</th>
          {onRefund && <th scope="col"><span className="sr-only">{t("promoter.actions")}</span></th>}
        </tr>
      </thead>
      <tbody>
        {items.map((r) => (
          <tr key={r.id}>
            <td>{formatDateTime(r.created_at, lang)}</td>
            <td>{r.user_name}<div className="muted">{r.user_email}</div></td>
            <td>{r.event_title}</td>
            <td className="num">{r.quantity}</td>
            <td className="num">{formatWon(r.total_amount, lang)}</td>
            <td><span className={`badge ${r.status}`}>{t(`reservation.status.${r.status}`)}</span></td>
            {onRefund && (
              <td>
                {r.status === "confirmed" && (
                  <button type="button" className="link danger" onClick={() => onRefund(r)}>{t("admin.refund")}</button>
                )}
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
