// `/admin/audit`: who changed what (every admin and promoter change, written with the
// change itself), newest first, filtered by account, resource or action.
import { useInfiniteQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api, unwrap } from "../api/client";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatDateTime } from "../lib/format";

/** `{"role":"fan"}` → `role: fan`; nothing for an absent side. */
function summary(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v !== "object") return String(v);
  return Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${k}: ${typeof x === "object" && x !== null ? JSON.stringify(x) : String(x)}`)
    .join(", ");
}

export default function AdminAuditPage() {
  const { t, lang } = useLang();
  const [form, setForm] = useState({ actor: "", resource: "", action: "" });
  const [filter, setFilter] = useState(form);
  const log = useInfiniteQuery({
    queryKey: ["audit", filter],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET("/api/v1/admin/audit", {
          params: {
            query: {
              cursor: pageParam,
              limit: 50,
              actor: filter.actor || undefined,
              resource: filter.resource || undefined,
              action: filter.action || undefined,
            },
          },
        }),
      ),
    getNextPageParam: (p) => p.next_cursor ?? undefined,
  });
  const items = (log.data?.pages ?? []).flatMap((p) => p.items);
  const field = (k: keyof typeof form, label: string, placeholder: string) => (
    <label>
      {label}{" "}
      <input value={form[k]} placeholder={placeholder} onChange={(e) => setForm({ ...form, [k]: e.target.value })} />
    </label>
  );
  return (
    <section>
      <h1>{t("audit.title")}</h1>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter(form);
        }}
      >
        {field("actor", t("audit.actor"), t("audit.actorHint"))}{" "}
        {field("resource", t("audit.resource"), "event:…")}{" "}
        {field("action", t("audit.action"), "user.updated")}{" "}
        <button type="submit">{t("events.searchButton")}</button>
      </form>
      <ProblemMessage error={log.error} />
      <table className="wide">
        <thead>
          <tr>
            <th scope="col">{t("audit.when")}</th>
            <th scope="col">{t("audit.actor")}</th>
            <th scope="col">{t("audit.action")}</th>
            <th scope="col">{t("audit.resource")}</th>
            <th scope="col">{t("audit.change")}</th>
            <th scope="col">{t("audit.request")}</th>
          </tr>
        </thead>
        <tbody>
          {items.map((e) => (
            <tr key={e.id}>
              <td>{formatDateTime(e.created_at, lang)}</td>
              <td>
                {e.actor.display_name} <span className="muted">({t(`users.role.${e.actor.role}`)})</span>
              </td>
              <td><code>{e.action}</code></td>
              <td>
                {e.resource_type} <code className="muted">{e.resource_id}</code>
              </td>
              <td>
                {e.before != null && <div className="muted">{t("audit.before")}: {summary(e.before)}</div>}
                {e.after != null && <div>{t("audit.after")}: {summary(e.after)}</div>}
              </td>
              <td><code className="muted">{e.request_id ?? ""}</code></td>
            </tr>
          ))}
        </tbody>
      </table>
      {items.length === 0 && !log.isLoading && <p className="muted">{t("audit.none")}</p>}
      {log.hasNextPage && (
        <button type="button" onClick={() => void log.fetchNextPage()}>{t("common.more")}</button>
      )}
    </section>
  );
}
