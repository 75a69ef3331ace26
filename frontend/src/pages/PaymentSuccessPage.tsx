// `/payment/success`: where the widget returns. Confirms the payment on the server
// once (the server checks the amount against the order), then shows the tickets (or,
// for a membership, the way to it).
import { useEffect, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { api, unwrap, type Schemas } from "../api/client";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatWon } from "../lib/format";
import { safeBack } from "../lib/payment";

export default function PaymentSuccessPage() {
  const [params] = useSearchParams();
  const { t, lang } = useLang();
  const [result, setResult] = useState<Schemas["ConfirmResponse"] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const started = useRef(false);
  const paymentKey = params.get("paymentKey") ?? "";
  const orderId = params.get("orderId") ?? "";
  const amount = Number(params.get("amount") ?? "NaN");
  const back = safeBack(params.get("back"));

  useEffect(() => {
    // React runs effects twice in development; a payment is confirmed once.
    if (started.current) return;
    started.current = true;
    unwrap(api.POST("/api/v1/payments/confirm", { body: { paymentKey, orderId, amount } }))
      .then(setResult)
      .catch(setError);
  }, [paymentKey, orderId, amount]);

  return (
    <section>
      {result ? (
        <>
          <h1>{t("payment.done")}</h1>
          <p>{t("payment.paid", { amount: formatWon(result.payment.amount, lang) })}</p>
          <ul className="tickets-brief">
            {result.tickets.map((tk) => (
              <li key={tk.id}>
                {tk.event_title} · {tk.label} · <code>{tk.code}</code>
              </li>
            ))}
          </ul>
          {result.payment.kind === "membership" ? (
            <Link className="button primary" to="/me/memberships">{t("nav.memberships")}</Link>
          ) : (
            <Link className="button primary" to="/me/tickets">{t("nav.tickets")}</Link>
          )}
        </>
      ) : error ? (
        <>
          <h1>{t("payment.failed")}</h1>
          <ProblemMessage error={error} />
          {back && <Link to={back}>{t("payment.backToCheckout")}</Link>}
        </>
      ) : (
        <p role="status">{t("payment.confirming")}</p>
      )}
    </section>
  );
}
