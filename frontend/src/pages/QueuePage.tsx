// `/events/{id}/enter` (the hand-off from the edge's waiting room) and
// `/events/{id}/queue` (the origin's own line). Joins tier 2 — with the pass the edge
// left in an HttpOnly cookie, which this page never sees — then polls as the server
// says until admitted; the entry token comes back as an HttpOnly cookie too.
import { useEffect, useRef, useState } from "react";
import { useNavigate, useParams } from "react-router";
import { api, ApiError, unwrap, type Schemas } from "../api/client";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";

type Status = Schemas["QueueStatus"];

export default function QueuePage({ edge = false }: { edge?: boolean }) {
  const { id = "" } = useParams();
  const { t } = useLang();
  const navigate = useNavigate();
  const [status, setStatus] = useState<Status | null>(null);
  const [error, setError] = useState<unknown>(null);
  const stopped = useRef(false);

  useEffect(() => {
    stopped.current = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const path = { event_id: id };
    const query = { delivery: "cookie" as const };
    const next = async (s: Status) => {
      if (stopped.current) return;
      setStatus(s);
      if (s.state === "admitted") {
        const e = await unwrap(api.GET("/api/v1/events/{event_id}", { params: { path } }));
        if (!stopped.current) {
          navigate(`/events/${id}/${e.has_seat_map ? "seats" : "book"}`, { replace: true });
        }
        return;
      }
      if (s.state === "waiting") timer = setTimeout(poll, Math.max(500, s.poll_after_ms));
    };
    const poll = async () => {
      try {
        await next(await unwrap(api.GET("/api/v1/events/{event_id}/queue/status", { params: { path, query } })));
      } catch (e) {
        if (!stopped.current) setError(e);
      }
    };
    (async () => {
      try {
        await next(await unwrap(api.POST("/api/v1/events/{event_id}/queue/join", { params: { path, query }, body: {} })));
      } catch (e) {
        if (!stopped.current) setError(e);
      }
    })();
    return () => {
      stopped.current = true;
      clearTimeout(timer);
    };
  }, [id, navigate]);

  const passProblem = error instanceof ApiError && error.code.startsWith("PASS_");
  return (
    <section className="queue" aria-live="polite">
      <h1>{t("queue.title")}</h1>
      <ProblemMessage error={error} />
      {passProblem && edge && (
        <p>
          <a className="button" href={`/e/${id}`}>{t("queue.backToRoom")}</a>
        </p>
      )}
      {!status && !error && <p role="status">{t("queue.joining")}</p>}
      {status?.state === "waiting" && (
        <div className="queue-card">
          <p className="big">{t("queue.position", { position: status.position.toLocaleString() })}</p>
          {status.ahead != null && <p>{t("queue.ahead", { count: status.ahead })}</p>}
          <p>
            {status.eta_seconds != null
              ? t("queue.eta", { minutes: Math.max(1, Math.ceil(status.eta_seconds / 60)) })
              : t("queue.etaUnknown")}
          </p>
          <progress aria-label={t("queue.progress")} />
          <p className="muted">{t("queue.keepOpen")}</p>
        </div>
      )}
      {status?.state === "admitted" && <p role="status">{t("queue.admitted")}</p>}
      {status?.state === "expired" && (
        <p className="banner warn" role="alert">{t("queue.expired")}</p>
      )}
    </section>
  );
}
