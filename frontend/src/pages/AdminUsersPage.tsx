// `/admin/users`: find accounts by name, email or role, change a role (the account's
// old tokens stop working within a second; it keeps its session), and disable or
// enable an account (its sessions end at once). Every change is in the audit log.
import { useInfiniteQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, unwrap, type Schemas } from "../api/client";
import { useAuth } from "../api/auth";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatDateTime } from "../lib/format";

const ROLES = ["fan", "promoter", "staff", "admin"] as const;

function DisableCell({ u }: { u: Schemas["UserProfile"] }) {
  const { t } = useLang();
  const { user } = useAuth();
  const queryClient = useQueryClient();
  const [error, setError] = useState<unknown>(null);
  const disabled = !!u.disabled_at;
  const toggle = async () => {
    setError(null);
    try {
      await unwrap(
        api.PATCH("/api/v1/admin/users/{user_id}", {
          params: { path: { user_id: u.id } },
          body: { disabled: !disabled },
        }),
      );
      await queryClient.invalidateQueries({ queryKey: ["admin-users"] });
    } catch (e) {
      setError(e);
    }
  };
  return (
    <td>
      {disabled && <span className="badge cancelled">{t("users.disabled")}</span>}{" "}
      <button
        type="button"
        className={disabled ? "link" : "link danger"}
        disabled={u.id === user?.id}
        aria-label={t(disabled ? "users.enableOf" : "users.disableOf", { name: u.display_name })}
        onClick={() => void toggle()}
      >
        {t(disabled ? "users.enable" : "users.disable")}
      </button>
      <ProblemMessage error={error} />
    </td>
  );
}

function RoleCell({ u }: { u: Schemas["UserProfile"] }) {
  const { t } = useLang();
  const { user } = useAuth();
  const queryClient = useQueryClient();
  const [role, setRole] = useState(u.role);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const save = async () => {
    setError(null);
    setSaved(false);
    try {
      await unwrap(
        api.PATCH("/api/v1/admin/users/{user_id}", { params: { path: { user_id: u.id } }, body: { role } }),
      );
      setSaved(true);
      await queryClient.invalidateQueries({ queryKey: ["admin-users"] });
    } catch (e) {
      setError(e);
    }
  };
  return (
    <td>
      <select aria-label={t("users.roleOf", { name: u.display_name })} value={role} onChange={(e) => setRole(e.target.value)} disabled={u.id === user?.id}>
        {ROLES.map((r) => (
          <option key={r} value={r}>{t(`users.role.${r}`)}</option>
        ))}
      </select>{" "}
      <button type="button" disabled={role === u.role || u.id === user?.id} onClick={() => void save()}>
        {t("users.change")}
      </button>
      {saved && <span role="status"> {t("users.changed")}</span>}
      <ProblemMessage error={error} />
    </td>
  );
}

export default function AdminUsersPage() {
  const { t, lang } = useLang();
  const [q, setQ] = useState("");
  const [role, setRole] = useState("");
  const [search, setSearch] = useState({ q: "", role: "" });
  const list = useInfiniteQuery({
    queryKey: ["admin-users", search],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET("/api/v1/admin/users", {
          params: {
            query: { cursor: pageParam, limit: 50, q: search.q || undefined, role: search.role || undefined },
          },
        }),
      ),
    getNextPageParam: (p) => p.next_cursor ?? undefined,
  });
  const items = (list.data?.pages ?? []).flatMap((p) => p.items);
  return (
    <section>
      <h1>{t("users.title")}</h1>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setSearch({ q, role });
        }}
      >
        <label>
          {t("users.search")} <input value={q} onChange={(e) => setQ(e.target.value)} />
        </label>{" "}
        <label>
          {t("users.roleFilter")}{" "}
          <select value={role} onChange={(e) => setRole(e.target.value)}>
            <option value="">{t("payouts.all")}</option>
            {ROLES.map((r) => (
              <option key={r} value={r}>{t(`users.role.${r}`)}</option>
            ))}
          </select>
        </label>{" "}
        <button type="submit">{t("events.searchButton")}</button>
      </form>
      <ProblemMessage error={list.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">{t("users.name")}</th>
            <th scope="col">{t("users.email")}</th>
            <th scope="col">{t("users.joined")}</th>
            <th scope="col">{t("users.roleFilter")}</th>
            <th scope="col">{t("users.access")}</th>
          </tr>
        </thead>
        <tbody>
          {items.map((u) => (
            <tr key={u.id}>
              <td>{u.display_name}</td>
              <td>{u.email}</td>
              <td>{formatDateTime(u.created_at, lang)}</td>
              <RoleCell u={u} />
              <DisableCell u={u} />
            </tr>
          ))}
        </tbody>
      </table>
      {list.hasNextPage && (
        <button type="button" onClick={() => void list.fetchNextPage()}>{t("common.more")}</button>
      )}
    </section>
  );
}
