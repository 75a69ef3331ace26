// `/door`: the check-in desk. Staff see the events they are assigned to (promoters and
// admins may open any of theirs by link, `/door?event=…`); a scanner or a person types
// the ticket's code (or pastes its QR payload) and the answer says admit or not, loud
// and clear.
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useSearchParams } from "react-router";
import { api, ApiError, unwrap, type Schemas } from "../api/client";
import { useAuth } from "../api/auth";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatDateTime } from "../lib/format";

export default function DoorPage() {
  const { t, lang } = useLang();
  const { hasRole } = useAuth();
  const [params, setParams] = useSearchParams();
  const eventId = params.get("event") ?? "";
  const [input, setInput] = useState("");
  const [result, setResult] = useState<Schemas["CheckedIn"] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const events = useQuery({
    queryKey: ["door-events"],
    enabled: hasRole("staff"),
    queryFn: () => unwrap(api.GET("/api/v1/me/door-events")),
  });
  const check = async () => {
    setResult(null);
    setError(null);
    const value = input.trim();
    // A QR payload is a signed token (dots); a code is ten letters and digits.
    const body = value.includes(".") ? { qr: value } : { code: value };
    try {
      const r = await unwrap(
        api.POST("/api/v1/events/{event_id}/check-ins", { params: { path: { event_id: eventId } }, body }),
      );
      setResult(r);
      setInput("");
    } catch (e) {
      setError(e);
    }
  };
  const refused = error instanceof ApiError;
  return (
    <section>
      <h1>{t("door.title")}</h1>
      {hasRole("staff") && (
        <label>
          {t("door.event")}{" "}
          <select value={eventId} onChange={(e) => setParams(e.target.value ? { event: e.target.value } : {})}>
            <option value="">{t("door.choose")}</option>
            {(events.data?.items ?? []).map((e) => (
              <option key={e.event_id} value={e.event_id} disabled={e.cancelled}>
                {e.title} · {formatDateTime(e.starts_at, lang)}
              </option>
            ))}
          </select>
        </label>
      )}
      {hasRole("staff") && events.data?.items.length === 0 && <p className="muted">{t("door.noEvents")}</p>}
      {eventId && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void check();
          }}
        >
          <label>
            {t("door.code")}{" "}
            <input autoFocus required value={input} autoComplete="off" onChange={(e) => setInput(e.target.value)} />
          </label>{" "}
          <button type="submit" className="primary">{t("door.check")}</button>
        </form>
      )}
      {result && (
        <p className="banner ok" role="status" data-testid="door-result">
          {t("door.admit", { label: result.label })}
        </p>
      )}
      {refused && (
        <div className="banner error" role="alert" data-testid="door-result">
          <strong>{t("door.refuse")}</strong>
          <ProblemMessage error={error} />
        </div>
      )}
      {!refused && <ProblemMessage error={error} />}
    </section>
  );
}
