// `/news`: announcements, pinned first; admins write, pin and delete here.
import { useInfiniteQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, unwrap } from "../api/client";
import { useAuth } from "../api/auth";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatDateTime } from "../lib/format";

export default function NewsPage() {
  const { t, lang } = useLang();
  const { hasRole } = useAuth();
  const queryClient = useQueryClient();
  const [title, setTitle] = useState("");
  const [body, setBody] = useState("");
  const [error, setError] = useState<unknown>(null);
  const list = useInfiniteQuery({
    queryKey: ["news"],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(api.GET("/api/v1/news", { params: { query: { cursor: pageParam, limit: 20 } } })),
    getNextPageParam: (p) => p.next_cursor ?? undefined,
  });
  const act = async (f: () => Promise<unknown>) => {
    setError(null);
    try {
      await f();
      await queryClient.invalidateQueries({ queryKey: ["news"] });
    } catch (e) {
      setError(e);
    }
  };
  const items = (list.data?.pages ?? []).flatMap((p) => p.items);
  const admin = hasRole("admin");
  return (
    <section>
      <h1>{t("nav.news")}</h1>
      <ProblemMessage error={list.error ?? error} />
      {admin && (
        <form
          className="news-form"
          onSubmit={(e) => {
            e.preventDefault();
            void act(async () => {
              await unwrap(api.POST("/api/v1/news", { body: { title, body } }));
              setTitle("");
              setBody("");
            });
          }}
        >
          <label>
            {t("community.title")}
            <input value={title} maxLength={200} onChange={(e) => setTitle(e.target.value)} />
          </label>
          <label>
            {t("community.body")}
            <textarea value={body} rows={4} onChange={(e) => setBody(e.target.value)} />
          </label>
          <button type="submit" className="primary">{t("community.publish")}</button>
        </form>
      )}
      {!list.isPending && items.length === 0 && <p className="muted">{t("news.none")}</p>}
      <ul className="rows">
        {items.map((n) => (
          <li key={n.id} className="row-card">
            <div>
              {n.pinned && <span className="badge">{t("community.pinned")}</span>} <strong>{n.title}</strong>
              <p className="muted">{n.author.display_name} · {formatDateTime(n.created_at, lang)}</p>
              <p className="post-body">{n.body}</p>
              {admin && (
                <p>
                  <button
                    type="button"
                    className="link"
                    onClick={() =>
                      void act(() =>
                        unwrap(
                          api.PATCH("/api/v1/news/{news_id}", {
                            params: { path: { news_id: n.id } },
                            body: { pinned: !n.pinned },
                          }),
                        ),
                      )
                    }
                  >
                    {n.pinned ? t("news.unpin") : t("news.pin")}
                  </button>{" "}
                  <button
                    type="button"
                    className="link"
                    onClick={() =>
                      void act(() => unwrap(api.DELETE("/api/v1/news/{news_id}", { params: { path: { news_id: n.id } } })))
                    }
                  >
                    {t("community.delete")}
                  </button>
                </p>
              )}
            </div>
          </li>
        ))}
      </ul>
      {list.hasNextPage && (
        <button type="button" onClick={() => void list.fetchNextPage()}>{t("common.more")}</button>
      )}
    </section>
  );
}
