// `/register`: a new fan account; the server's field errors appear next to each field.
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { useAuth } from "../api/auth";
import { ApiError } from "../api/client";
import { FieldMessage, ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { safeNext } from "./LoginPage";

export default function RegisterPage() {
  const { t } = useLang();
  const { register } = useAuth();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const next = safeNext(params.get("next"));
  const [form, setForm] = useState({ email: "", password: "", display_name: "", phone: "" });
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm((f) => ({ ...f, [k]: e.target.value }));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await register({
        email: form.email.trim(),
        password: form.password,
        display_name: form.display_name.trim(),
        phone: form.phone.trim() || null,
      });
      navigate(next, { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const fieldErrors = error instanceof ApiError && (error.problem.errors?.length ?? 0) > 0;
  const field = (k: keyof typeof form, type: string, autoComplete: string, required = true) => (
    <label>
      {t(`auth.${k}`)}
      <input type={type} autoComplete={autoComplete} required={required} value={form[k]} onChange={set(k)}
        aria-describedby={`err-${k}`} aria-invalid={error instanceof ApiError && !!error.field(k)} />
      <FieldMessage error={error} field={k} id={`err-${k}`} />
    </label>
  );
  return (
    <section className="narrow">
      <h1>{t("auth.registerTitle")}</h1>
      {!fieldErrors && <ProblemMessage error={error} />}
      <form onSubmit={(e) => void submit(e)} className="stack" noValidate>
        {field("email", "email", "email")}
        {field("password", "password", "new-password")}
        {field("display_name", "text", "nickname")}
        {field("phone", "tel", "tel", false)}
        <button type="submit" className="primary" disabled={busy}>{t("auth.register")}</button>
      </form>
      <p>
        {t("auth.haveAccount")} <Link to={`/login?next=${encodeURIComponent(next)}`}>{t("auth.login")}</Link>
      </p>
    </section>
  );
}
