// `/payment/fail`: the widget gave up (declined card, the fan closed it). Says why, in
// the fan's language where we know the code, and offers another try (while a hold
// lasts) from the page the payment started on.
import { Link, useSearchParams } from "react-router";
import { useLang } from "../i18n";
import { safeBack } from "../lib/payment";

export default function PaymentFailPage() {
  const [params] = useSearchParams();
  const { t } = useLang();
  const code = params.get("code") ?? "";
  const message = params.get("message") ?? "";
  const back = safeBack(params.get("back"));
  return (
    <section>
      <h1>{t("payment.failed")}</h1>
      <p role="alert" className="banner error">
        {t(`tossErrors.${code}`, { defaultValue: message || t("payment.failedGeneric") })}
      </p>
      {code && <p className="muted">{code}</p>}
      {back && (
        <Link className="button primary" to={back}>{t("payment.retry")}</Link>
      )}
    </section>
  );
}
