// `/artists`: every artist with their fan club's price and how many events they have.
import { useInfiniteQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { api, unwrap } from "../api/client";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatWon } from "../lib/format";

export default function ArtistsPage() {
  const { t, lang } = useLang();
  const list = useInfiniteQuery({
    queryKey: ["artists"],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(api.GET("/api/v1/artists", { params: { query: { cursor: pageParam, limit: 50 } } })),
    getNextPageParam: (p) => p.next_cursor ?? undefined,
  });
  const items = (list.data?.pages ?? []).flatMap((p) => p.items);
  return (
    <section>
      <h1>{t("nav.artists")}</h1>
      <ProblemMessage error={list.error} />
      {list.isPending && <p role="status">{t("common.loading")}</p>}
      <ul className="cards">
        {items.map((a) => (
          <li key={a.id} className="card">
            <Link to={`/artists/${a.id}`} className="card-link">
              <span className="card-title">{lang === "en" && a.name_en ? a.name_en : a.name}</span>
            </Link>
            <p className="muted">{t("artist.events", { count: a.event_count })}</p>
            <p>{t("artist.membershipPrice", { price: formatWon(a.membership_price, lang) })}</p>
          </li>
        ))}
      </ul>
      {list.hasNextPage && (
        <button type="button" onClick={() => void list.fetchNextPage()}>{t("common.more")}</button>
      )}
    </section>
  );
}
