// `/promoter/events/{id}/rules`: the waiting room's rules, every field of them, with
// the server's per-field errors, version-conflict handling, each edge's acknowledged
// version, and a live preview of the room rendered by the edge's own page code
// (`POST /edge-rules/preview`), shown in sandboxed frames in Korean and English.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { useParams } from "react-router";
import { api, ApiError, sessionFetch, toApiError, unwrap, type Schemas } from "../api/client";
import { FieldMessage, ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatDateTime } from "../lib/format";

type Rules = Schemas["EdgeRules"];

const previewFetch = sessionFetch();
type PreviewPage = "queue" | "join" | "not_open";

const toInput = (unix: number | null | undefined) =>
  unix == null ? "" : new Date((unix + 9 * 3600) * 1000).toISOString().slice(0, 16);
const fromInput = (v: string) => (v ? Math.floor(new Date(`${v}:00+09:00`).getTime() / 1000) : null);

/** Rules for an event that has none yet: a FIFO queue opening with the sale. */
export function defaultRules(e: Schemas["EventDetail"]): Rules {
  return {
    event_id: e.id,
    version: 0,
    mode: "queue",
    method: "fifo",
    prequeue_opens_at: null,
    sale_opens_at: Math.floor(new Date(e.sale_opens_at).getTime() / 1000),
    sale_closes_at: Math.floor(new Date(e.sale_closes_at).getTime() / 1000),
    new_users_per_minute: 600,
    max_active: 500,
    active_slot_secs: 600,
    protected_paths: [`/api/v1/events/${e.id}/reservations`],
    join_limit_per_ip_per_min: 60,
    challenge: "none",
    pow_difficulty: 16,
    template: {
      title_ko: `${e.title} 대기실`,
      title_en: `${e.title} waiting room`,
      message_ko: "잠시만 기다려 주세요. 순서대로 입장합니다.",
      message_en: "Please wait; you will be let in in order.",
      brand_color: null,
      logo_url: null,
      custom_html: null,
    },
  };
}

/** Stored rules may omit fields that have server defaults; the form shows them. */
export function withDefaults(r: Rules): Rules {
  return {
    ...r,
    challenge: r.challenge ?? "none",
    join_limit_per_ip_per_min: r.join_limit_per_ip_per_min ?? 60,
    pow_difficulty: r.pow_difficulty ?? 16,
  };
}

export default function RulesEditorPage() {
  const { id = "" } = useParams();
  const { t, lang } = useLang();
  const queryClient = useQueryClient();
  const path = { event_id: id };
  const event = useQuery({
    queryKey: ["event", id],
    queryFn: () => unwrap(api.GET("/api/v1/events/{event_id}", { params: { path } })),
  });
  const stored = useQuery({
    queryKey: ["edge-rules", id],
    retry: false,
    queryFn: async () => {
      try {
        return await unwrap(api.GET("/api/v1/events/{event_id}/edge-rules", { params: { path } }));
      } catch (e) {
        if (e instanceof ApiError && e.code === "EDGE_RULES_NOT_SET") return null;
        throw e;
      }
    },
    refetchInterval: (q) => (q.state.data && !q.state.data.delivered ? 1_000 : false),
  });
  const [rules, setRules] = useState<Rules | null>(null);
  const [edgeTier, setEdgeTier] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<number | null>(null);
  const [page, setPage] = useState<PreviewPage>("queue");
  const [preview, setPreview] = useState<{ ko: string; en: string } | null>(null);
  const [previewError, setPreviewError] = useState<unknown>(null);

  // Start from the stored rules (or defaults) once they are known.
  useEffect(() => {
    if (rules || stored.isPending || !event.data) return;
    if (stored.data) {
      setRules(withDefaults(stored.data.rules));
      setEdgeTier(stored.data.edge_tier);
    } else if (stored.data === null) {
      setRules(defaultRules(event.data));
    }
  }, [rules, stored.isPending, stored.data, event.data]);

  // The preview follows the form, ~400 ms after the last change.
  const previewBody = useMemo(() => (rules ? JSON.stringify(rules) : null), [rules]);
  useEffect(() => {
    if (!previewBody) return;
    const ctl = new AbortController();
    const timer = setTimeout(async () => {
      const render = async (l: "ko" | "en") => {
        // HTML, not JSON: through the session's fetch (token, refresh on 401), not the
        // typed JSON client.
        const res = await previewFetch(
          new Request(`${window.location.origin}/api/v1/events/${id}/edge-rules/preview`, {
            method: "POST",
            credentials: "include",
            signal: ctl.signal,
            headers: { "content-type": "application/json" },
            body: `{"rules":${previewBody},"lang":"${l}","page":"${page}"}`,
          }),
        );
        if (!res.ok) throw toApiError(await res.json().catch(() => null), res);
        return res.text();
      };
      try {
        const [ko, en] = await Promise.all([render("ko"), render("en")]);
        setPreview({ ko, en });
        setPreviewError(null);
      } catch (e) {
        if (!ctl.signal.aborted) setPreviewError(e);
      }
    }, 400);
    return () => {
      ctl.abort();
      clearTimeout(timer);
    };
  }, [previewBody, page, id]);

  if (event.error || stored.error) return <ProblemMessage error={event.error ?? stored.error} />;
  if (!rules || !event.data) return <p role="status">{t("common.loading")}</p>;

  const set = <K extends keyof Rules>(k: K, v: Rules[K]) => setRules((r) => (r ? { ...r, [k]: v } : r));
  const setTpl = <K extends keyof Rules["template"]>(k: K, v: Rules["template"][K]) =>
    setRules((r) => (r ? { ...r, template: { ...r.template, [k]: v } } : r));
  const currentVersion = stored.data?.version ?? 0;

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setSaved(null);
    try {
      const view = await unwrap(
        api.PUT("/api/v1/events/{event_id}/edge-rules", {
          params: { path },
          body: { rules: { ...rules, version: currentVersion + 1 }, edge_tier: edgeTier },
        }),
      );
      queryClient.setQueryData(["edge-rules", id], view);
      setRules(withDefaults(view.rules));
      setSaved(view.version);
    } catch (err) {
      setError(err);
    }
  };
  const reload = async () => {
    setError(null);
    const fresh = await stored.refetch();
    if (fresh.data) {
      setRules(withDefaults(fresh.data.rules));
      setEdgeTier(fresh.data.edge_tier);
    }
  };

  const err = (field: string) => <FieldMessage error={error} field={`rules.${field}`} id={`err-${field}`} />;
  const num = (k: "new_users_per_minute" | "max_active" | "active_slot_secs" | "join_limit_per_ip_per_min" | "pow_difficulty", label: string) => (
    <label>
      {label}
      <input type="number" min={0} value={rules[k]} aria-describedby={`err-${k}`}
        onChange={(e) => set(k, Number(e.target.value))} />
      {err(k)}
    </label>
  );
  const conflict = error instanceof ApiError && error.code === "RULES_VERSION_CONFLICT";

  return (
    <section>
      <h1>{t("rules.title", { title: event.data.title })}</h1>
      {saved !== null && <p className="banner info" role="status">{t("rules.saved", { version: saved })}</p>}
      {conflict ? (
        <p className="banner warn" role="alert">
          {t("rules.conflict")}{" "}
          <button type="button" onClick={() => void reload()}>{t("rules.reload")}</button>
        </p>
      ) : (
        <ProblemMessage error={error} />
      )}
      <div className="rules-layout">
        <form onSubmit={(e) => void save(e)} className="stack" noValidate>
          <fieldset>
            <legend>{t("rules.queue")}</legend>
            <label>
              {t("rules.mode")}
              <select value={rules.mode} onChange={(e) => set("mode", e.target.value as Rules["mode"])}>
                {(["queue", "passthrough", "reject", "maintenance"] as const).map((m) => (
                  <option key={m} value={m}>{t(`rules.modes.${m}`)}</option>
                ))}
              </select>
              {err("mode")}
            </label>
            <label>
              {t("rules.method")}
              <select value={rules.method} onChange={(e) => set("method", e.target.value as Rules["method"])}>
                <option value="fifo">{t("rules.methods.fifo")}</option>
                <option value="random">{t("rules.methods.random")}</option>
              </select>
              {err("method")}
            </label>
            <label className="check">
              <input type="checkbox" checked={edgeTier} onChange={(e) => setEdgeTier(e.target.checked)} />
              {t("rules.edgeTier")}
            </label>
            <label>
              {t("rules.prequeue")}
              <input type="datetime-local" value={toInput(rules.prequeue_opens_at)}
                onChange={(e) => set("prequeue_opens_at", fromInput(e.target.value))} aria-describedby="err-prequeue_opens_at" />
              {err("prequeue_opens_at")}
            </label>
            <label>
              {t("rules.saleOpens")}
              <input type="datetime-local" value={toInput(rules.sale_opens_at)}
                onChange={(e) => set("sale_opens_at", fromInput(e.target.value) ?? 0)} aria-describedby="err-sale_opens_at" />
              {err("sale_opens_at")}
            </label>
            <label>
              {t("rules.saleCloses")}
              <input type="datetime-local" value={toInput(rules.sale_closes_at)}
                onChange={(e) => set("sale_closes_at", fromInput(e.target.value))} aria-describedby="err-sale_closes_at" />
              {err("sale_closes_at")}
            </label>
            {num("new_users_per_minute", t("rules.rate"))}
            {num("max_active", t("rules.capacity"))}
            {num("active_slot_secs", t("rules.slot"))}
            {num("join_limit_per_ip_per_min", t("rules.joinLimit"))}
            <label>
              {t("rules.challenge")}
              <select value={rules.challenge ?? "none"} onChange={(e) => set("challenge", e.target.value as Rules["challenge"])}>
                <option value="none">{t("rules.challenges.none")}</option>
                <option value="pow">{t("rules.challenges.pow")}</option>
              </select>
            </label>
            {num("pow_difficulty", t("rules.powDifficulty"))}
            <label>
              {t("rules.protectedPaths")}
              <textarea rows={3} value={rules.protected_paths.join("\n")} aria-describedby="err-protected_paths"
                onChange={(e) => set("protected_paths", e.target.value.split("\n").map((s) => s.trim()).filter(Boolean))} />
              {err("protected_paths")}
            </label>
          </fieldset>
          <fieldset>
            <legend>{t("rules.template")}</legend>
            <label>
              {t("rules.titleKo")}
              <input value={rules.template.title_ko} onChange={(e) => setTpl("title_ko", e.target.value)} aria-describedby="err-template.title_ko" />
              {err("template.title_ko")}
            </label>
            <label>
              {t("rules.titleEn")}
              <input value={rules.template.title_en} onChange={(e) => setTpl("title_en", e.target.value)} aria-describedby="err-template.title_en" />
              {err("template.title_en")}
            </label>
            <label>
              {t("rules.messageKo")}
              <textarea rows={2} value={rules.template.message_ko} onChange={(e) => setTpl("message_ko", e.target.value)} />
              {err("template.message_ko")}
            </label>
            <label>
              {t("rules.messageEn")}
              <textarea rows={2} value={rules.template.message_en} onChange={(e) => setTpl("message_en", e.target.value)} />
              {err("template.message_en")}
            </label>
            <label>
              {t("rules.brandColor")}
              <input value={rules.template.brand_color ?? ""} placeholder="#5b3df5"
                onChange={(e) => setTpl("brand_color", e.target.value || null)} />
              {err("template.brand_color")}
            </label>
            <label>
              {t("rules.logoUrl")}
              <input value={rules.template.logo_url ?? ""} onChange={(e) => setTpl("logo_url", e.target.value || null)} />
              {err("template.logo_url")}
            </label>
            <label>
              {t("rules.customHtml")}
              <textarea rows={3} value={rules.template.custom_html ?? ""}
                onChange={(e) => setTpl("custom_html", e.target.value || null)} />
              {err("template.custom_html")}
            </label>
          </fieldset>
          <button type="submit" className="primary">{t("rules.save")}</button>
        </form>
        <div className="preview">
          <div className="title-row">
            <h2>{t("rules.preview")}</h2>
            <select aria-label={t("rules.previewPage")} value={page} onChange={(e) => setPage(e.target.value as PreviewPage)}>
              <option value="queue">{t("rules.previewPages.queue")}</option>
              <option value="join">{t("rules.previewPages.join")}</option>
              <option value="not_open">{t("rules.previewPages.not_open")}</option>
            </select>
          </div>
          <ProblemMessage error={previewError} />
          {preview && (
            <>
              <iframe title={t("rules.previewKo")} sandbox="" srcDoc={preview.ko} className="preview-frame" />
              <iframe title={t("rules.previewEn")} sandbox="" srcDoc={preview.en} className="preview-frame" />
            </>
          )}
          <h2>{t("rules.edges")}</h2>
          {stored.data && stored.data.deliveries.length > 0 ? (
            <table>
              <thead>
                <tr>
                  <th scope="col">{t("rules.edge")}</th>
                  <th scope="col">{t("rules.acked")}</th>
                  <th scope="col">{t("rules.state")}</th>
                </tr>
              </thead>
              <tbody>
                {stored.data.deliveries.map((d) => (
                  <tr key={d.edge_url} data-testid="edge-delivery">
                    <td>{d.edge_url}</td>
                    <td>v{d.acked_version}{d.acked_at && ` · ${formatDateTime(d.acked_at, lang)}`}</td>
                    <td>
                      {d.acked_version >= stored.data!.version
                        ? t("rules.deliveredState")
                        : t("rules.pendingState", { attempts: d.attempts })}
                      {d.last_error && <div className="muted">{d.last_error}</div>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p className="muted">{t("rules.noEdges")}</p>
          )}
        </div>
      </div>
    </section>
  );
}
