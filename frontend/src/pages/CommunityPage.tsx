// `/community`: an artist's board (chosen by chips), pinned posts first, and the way to
// write. Authors show by display name only.
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router";
import { api, unwrap } from "../api/client";
import { useAuth } from "../api/auth";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatDateTime } from "../lib/format";

export default function CommunityPage() {
  const { t, lang } = useLang();
  const { user } = useAuth();
  const [params, setParams] = useSearchParams();
  const artists = useQuery({
    queryKey: ["artists-all"],
    queryFn: () => unwrap(api.GET("/api/v1/artists", { params: { query: { limit: 100 } } })),
    staleTime: 60_000,
  });
  const artist = params.get("artist") ?? artists.data?.items[0]?.id ?? "";
  const board = useInfiniteQuery({
    queryKey: ["board", artist],
    enabled: !!artist,
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET("/api/v1/artists/{artist_id}/posts", {
          params: { path: { artist_id: artist }, query: { cursor: pageParam, limit: 20 } },
        }),
      ),
    getNextPageParam: (p) => p.next_cursor ?? undefined,
  });
  const posts = (board.data?.pages ?? []).flatMap((p) => p.items);
  return (
    <section>
      <div className="title-row">
        <h1>{t("nav.community")}</h1>
        {user && artist && <Link className="button primary" to={`/community/write?artist=${artist}`}>{t("community.write")}</Link>}
      </div>
      <div className="chips" role="group" aria-label={t("community.boards")}>
        {(artists.data?.items ?? []).map((a) => (
          <button
            key={a.id}
            type="button"
            aria-pressed={a.id === artist}
            onClick={() => setParams({ artist: a.id })}
          >
            {lang === "en" && a.name_en ? a.name_en : a.name}
          </button>
        ))}
      </div>
      <ProblemMessage error={board.error ?? artists.error} />
      {board.isPending && artist && <p role="status">{t("common.loading")}</p>}
      {!board.isPending && posts.length === 0 && <p className="muted">{t("community.none")}</p>}
      <ul className="rows">
        {posts.map((p) => (
          <li key={p.id} className="row-card">
            <div>
              {p.pinned && <span className="badge">{t("community.pinned")}</span>}{" "}
              <strong><Link to={`/community/${p.id}`}>{p.title}</Link></strong>
              <p className="muted">{p.excerpt}</p>
              <p className="muted">
                {p.author.display_name} · {formatDateTime(p.created_at, lang)} ·{" "}
                {t("community.counts", { comments: p.comment_count, views: p.view_count })}
              </p>
            </div>
          </li>
        ))}
      </ul>
      {board.hasNextPage && (
        <button type="button" onClick={() => void board.fetchNextPage()}>{t("common.more")}</button>
      )}
    </section>
  );
}
