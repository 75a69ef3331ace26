// `/login`: email and password, or Google when the server has a client id. Returns to
// `next` (a path of this app only).
import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { useAuth } from "../api/auth";
import { api, unwrap } from "../api/client";
import { ProblemMessage } from "../components/ProblemMessage";
import { GoogleButton } from "../components/GoogleButton";
import { useLang } from "../i18n";

/** Only same-app paths: never an open redirect. */
export function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

export default function LoginPage() {
  const { t } = useLang();
  const { login } = useAuth();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const next = safeNext(params.get("next"));
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const config = useQuery({ queryKey: ["auth-config"], queryFn: () => unwrap(api.GET("/api/v1/auth/config")) });

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(email.trim(), password);
      navigate(next, { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="narrow">
      <h1>{t("auth.loginTitle")}</h1>
      <ProblemMessage error={error} />
      <form onSubmit={(e) => void submit(e)} className="stack">
        <label>
          {t("auth.email")}
          <input type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          {t("auth.password")}
          <input type="password" autoComplete="current-password" required value={password}
            onChange={(e) => setPassword(e.target.value)} />
        </label>
        <button type="submit" className="primary" disabled={busy}>{t("auth.login")}</button>
      </form>
      {config.data?.google_client_id && (
        <GoogleButton clientId={config.data.google_client_id} onDone={() => navigate(next, { replace: true })} />
      )}
      <p>
        {t("auth.noAccount")} <Link to={`/register?next=${encodeURIComponent(next)}`}>{t("auth.register")}</Link>
      </p>
    </section>
  );
}
