// `/community/{id}`: a post as plain text, its comments oldest first, commenting, and
// the author's edit and delete (admins delete too), reporting, and the admins' pin and
// hide.
import { useInfiniteQuery, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { api, unwrap } from "../api/client";
import { useAuth } from "../api/auth";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatDateTime } from "../lib/format";

export default function PostPage() {
  const { id = "" } = useParams();
  const { t, lang } = useLang();
  const { user, hasRole } = useAuth();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [comment, setComment] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState("");
  const post = useQuery({
    queryKey: ["post", id, user?.id ?? null],
    queryFn: () => unwrap(api.GET("/api/v1/posts/{post_id}", { params: { path: { post_id: id } } })),
  });
  const comments = useInfiniteQuery({
    queryKey: ["comments", id],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET("/api/v1/posts/{post_id}/comments", {
          params: { path: { post_id: id }, query: { cursor: pageParam, limit: 50 } },
        }),
      ),
    getNextPageParam: (p) => p.next_cursor ?? undefined,
  });
  const act = async (f: () => Promise<unknown>) => {
    setError(null);
    try {
      await f();
    } catch (e) {
      setError(e);
    }
  };
  if (post.error) return <ProblemMessage error={post.error} />;
  const p = post.data;
  if (!p) return <p role="status">{t("common.loading")}</p>;
  const mine = user?.id === p.author.id;
  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: ["comments", id] }),
      queryClient.invalidateQueries({ queryKey: ["post", id] }),
    ]);
  const items = (comments.data?.pages ?? []).flatMap((c) => c.items);
  // Admins: hide (or show again) and pin (or unpin).
  const moderate = (body: { hidden?: boolean; pinned?: boolean }) =>
    act(async () => {
      await unwrap(api.PATCH("/api/v1/admin/posts/{post_id}", { params: { path: { post_id: p.id } }, body }));
      if (body.hidden !== undefined) setNotice(t(body.hidden ? "community.hiddenNotice" : "community.shown"));
      await refresh();
    });
  return (
    <article>
      <p><Link to={`/community?artist=${p.artist_id}`}>{t("community.back")}</Link></p>
      <h1>{p.title}</h1>
      {p.hidden && <p className="banner warn" role="note">{t("community.hiddenBanner")}</p>}
      <p className="muted">
        {p.author.display_name} · {formatDateTime(p.created_at, lang)} · {t("community.views", { count: p.view_count })}
      </p>
      <div className="post-body">{p.body}</div>
      <ProblemMessage error={error} />
      {notice && <p role="status" className="banner info">{notice}</p>}
      <p>
        {mine && <Link to={`/community/${p.id}/edit`}>{t("community.edit")}</Link>}{" "}
        {(mine || hasRole("admin")) && (
          <button
            type="button"
            className="link"
            onClick={() =>
              void act(async () => {
                await unwrap(api.DELETE("/api/v1/posts/{post_id}", { params: { path: { post_id: p.id } } }));
                await navigate(`/community?artist=${p.artist_id}`);
              })
            }
          >
            {t("community.delete")}
          </button>
        )}{" "}
        {hasRole("admin") && (
          <>
            <button type="button" className="link" onClick={() => void moderate({ hidden: !p.hidden })}>
              {t(p.hidden ? "community.unhide" : "community.hide")}
            </button>{" "}
            <button type="button" className="link" onClick={() => void moderate({ pinned: !p.pinned })}>
              {t(p.pinned ? "community.unpin" : "community.pin")}
            </button>{" "}
          </>
        )}
        {user && !mine && (
          <button
            type="button"
            className="link"
            onClick={() =>
              void act(async () => {
                await unwrap(
                  api.POST("/api/v1/posts/{post_id}/reports", {
                    params: { path: { post_id: p.id } },
                    body: { reason: t("community.reportReason") },
                  }),
                );
                setNotice(t("community.reported"));
              })
            }
          >
            {t("community.report")}
          </button>
        )}
      </p>
      <h2>{t("community.comments", { count: p.comment_count })}</h2>
      <ul className="comments">
        {items.map((c) => (
          <li key={c.id}>
            <strong>{c.author.display_name}</strong> <span className="muted">{formatDateTime(c.created_at, lang)}</span>
            <p className="post-body">{c.body}</p>
            {(user?.id === c.author.id || hasRole("admin")) && (
              <button
                type="button"
                className="link"
                onClick={() =>
                  void act(async () => {
                    await unwrap(
                      api.DELETE("/api/v1/comments/{comment_id}", { params: { path: { comment_id: c.id } } }),
                    );
                    await refresh();
                  })
                }
              >
                {t("community.delete")}
              </button>
            )}
          </li>
        ))}
      </ul>
      {comments.hasNextPage && (
        <button type="button" onClick={() => void comments.fetchNextPage()}>{t("common.more")}</button>
      )}
      {user ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void act(async () => {
              await unwrap(
                api.POST("/api/v1/posts/{post_id}/comments", {
                  params: { path: { post_id: p.id } },
                  body: { body: comment },
                }),
              );
              setComment("");
              await refresh();
            });
          }}
        >
          <label>
            {t("community.comment")}
            <textarea value={comment} maxLength={2000} rows={3} onChange={(e) => setComment(e.target.value)} />
          </label>
          <button type="submit" className="primary" disabled={!comment.trim()}>{t("community.send")}</button>
        </form>
      ) : (
        <Link to={`/login?next=/community/${p.id}`}>{t("community.loginToComment")}</Link>
      )}
    </article>
  );
}
