// `/transfers`: the resale market, by artist or event. Prices are never above face
// value; buying holds the ticket while the fan pays, then it is theirs with a new QR.
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router";
import { api, unwrap, type Schemas } from "../api/client";
import { useAuth } from "../api/auth";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatDateTime, formatWon } from "../lib/format";
import { usePayOrder } from "../lib/order";

export function ListingFacts({ l }: { l: Schemas["Listing"] }) {
  const { t, lang } = useLang();
  return (
    <>
      <strong><Link to={`/events/${l.event_id}`}>{l.event_title}</Link></strong>
      <p className="muted">
        {formatDateTime(l.starts_at, lang)} · {l.venue_name}
        {l.artist_name ? ` · ${l.artist_name}` : ""}
      </p>
      <p>{l.label}</p>
      <p className="muted">{t("resale.faceValue", { price: formatWon(l.face_value, lang) })}</p>
    </>
  );
}

export default function TransfersPage() {
  const { t, lang } = useLang();
  const { user } = useAuth();
  const [params, setParams] = useSearchParams();
  const artist = params.get("artist") ?? "";
  const event = params.get("event") ?? "";
  const { pay, error, busy } = usePayOrder();
  const artists = useQuery({
    queryKey: ["artists-all"],
    queryFn: () => unwrap(api.GET("/api/v1/artists", { params: { query: { limit: 100 } } })),
    staleTime: 60_000,
  });
  // Events to filter by: those on sale (of the chosen artist, if any).
  const events = useQuery({
    queryKey: ["market-events", artist],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/events", {
          params: { query: { status: "on_sale", limit: 100, artist_id: artist || undefined } },
        }),
      ),
    staleTime: 60_000,
  });
  const setFilter = (name: "artist" | "event", value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    if (name === "artist") next.delete("event");
    setParams(next);
  };
  const list = useInfiniteQuery({
    queryKey: ["market", artist, event],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET("/api/v1/transfer-listings", {
          params: {
            query: {
              cursor: pageParam,
              limit: 20,
              artist_id: artist || undefined,
              event_id: event || undefined,
            },
          },
        }),
      ),
    getNextPageParam: (p) => p.next_cursor ?? undefined,
  });
  const items = (list.data?.pages ?? []).flatMap((p) => p.items);
  const buy = (l: Schemas["Listing"]) =>
    void pay(
      unwrap(
        api.POST("/api/v1/transfer-listings/{listing_id}/purchase", { params: { path: { listing_id: l.id } } }),
      ).then((r) => r.order),
      "/transfers",
    );
  return (
    <section>
      <div className="title-row">
        <h1>{t("nav.transfers")}</h1>
        {user && <Link to="/transfers/my">{t("resale.mine")}</Link>}
      </div>
      <p className="muted">{t("resale.rules")}</p>
      <div className="filters">
        <label>
          {t("resale.artist")}{" "}
          <select value={artist} onChange={(e) => setFilter("artist", e.target.value)}>
            <option value="">{t("resale.allArtists")}</option>
            {(artists.data?.items ?? []).map((a) => (
              <option key={a.id} value={a.id}>{lang === "en" && a.name_en ? a.name_en : a.name}</option>
            ))}
          </select>
        </label>{" "}
        <label>
          {t("resale.event")}{" "}
          <select value={event} onChange={(e) => setFilter("event", e.target.value)}>
            <option value="">{t("resale.allEvents")}</option>
            {(events.data?.items ?? []).map((e) => (
              <option key={e.id} value={e.id}>{e.title}</option>
            ))}
            {event && !(events.data?.items ?? []).some((e) => e.id === event) && (
              <option value={event}>{t("resale.oneEvent")}</option>
            )}
          </select>
        </label>
      </div>
      <ProblemMessage error={list.error ?? error} />
      {list.isPending && <p role="status">{t("common.loading")}</p>}
      {!list.isPending && items.length === 0 && <p className="muted">{t("resale.none")}</p>}
      <ul className="rows">
        {items.map((l) => (
          <li key={l.id} className="row-card">
            <div>
              <ListingFacts l={l} />
            </div>
            <div className="total">
              {formatWon(l.total, lang)}
              {l.mine ? (
                <p className="muted">{t("resale.yours")}</p>
              ) : user ? (
                <p>
                  <button type="button" className="primary" disabled={busy} onClick={() => buy(l)}>
                    {t("resale.buy")}
                  </button>
                </p>
              ) : (
                <p><Link to="/login?next=/transfers">{t("resale.loginToBuy")}</Link></p>
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
