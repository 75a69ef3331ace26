// `/checkout/{reservation}`: the hold's countdown, what is held, the amount (the
// server's, never recomputed here), and the payment widget.
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useParams } from "react-router";
import { api, unwrap } from "../api/client";
import { useAuth } from "../api/auth";
import { Countdown } from "../components/Countdown";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { serverNow, useServerNow } from "../lib/clock";
import { formatWon } from "../lib/format";
import { openPayment } from "../lib/payment";

export default function CheckoutPage() {
  const { id = "" } = useParams();
  const { t, lang } = useLang();
  const { user } = useAuth();
  const now = useServerNow();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const reservation = useQuery({
    queryKey: ["reservation", id],
    queryFn: () =>
      unwrap(api.GET("/api/v1/reservations/{reservation_id}", { params: { path: { reservation_id: id } } })),
  });
  const config = useQuery({
    queryKey: ["payments-config"],
    queryFn: () => unwrap(api.GET("/api/v1/payments/config")),
    staleTime: Infinity,
  });
  if (reservation.error) return <ProblemMessage error={reservation.error} />;
  const r = reservation.data;
  if (!r) return <p className="muted" role="status">{t("common.loading")}</p>;
  const expired = new Date(r.expires_at).getTime() <= now;
  const payable = r.status === "pending" && !expired && !!r.order;

  const pay = async () => {
    if (!r.order || !config.data || !user) return;
    setBusy(true);
    setError(null);
    try {
      if (new Date(r.expires_at).getTime() <= serverNow()) return;
      await openPayment(config.data, {
        orderId: r.order.order_id,
        orderName: r.order.order_name,
        amount: r.order.amount,
        back: `/checkout/${r.id}`,
        customerKey: user.id,
      });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="checkout">
      <h1>{t("checkout.title")}</h1>
      <p className="muted">{r.event_title}</p>
      {r.status === "pending" && !expired && (
        <p className="banner info">
          <Countdown target={r.expires_at} label={t("checkout.holdEnds")} />
        </p>
      )}
      {r.status === "pending" && expired && (
        <p className="banner warn" role="alert">{t("checkout.expired")}</p>
      )}
      {r.status !== "pending" && (
        <p className="banner info">{t(`reservation.status.${r.status}`)}</p>
      )}
      <table>
        <thead>
          <tr>
            <th scope="col">{t("checkout.item")}</th>
            <th scope="col">{t("checkout.quantity")}</th>
            <th scope="col">{t("checkout.subtotal")}</th>
          </tr>
        </thead>
        <tbody>
          {r.items.map((i) => (
            <tr key={`${i.label}-${i.seat_id ?? i.ticket_type_id}`}>
              <td>{i.label}</td>
              <td>{i.quantity}</td>
              <td>{formatWon(i.subtotal, lang)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="total">{t("common.total")}: {formatWon(r.amount, lang)}</p>
      <ProblemMessage error={error} />
      {payable && (
        <button type="button" className="primary" disabled={busy || !config.data} onClick={() => void pay()}>
          {t("checkout.pay", { amount: formatWon(r.amount, lang) })}
        </button>
      )}
      <p>
        <Link to="/me/reservations">{t("nav.reservations")}</Link>
      </p>
    </section>
  );
}
