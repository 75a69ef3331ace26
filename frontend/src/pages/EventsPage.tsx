// `/`: events by status tab, searchable, with a price range and countdowns to the sale
// opening (upcoming) or closing (on sale), on the server's clock.
import { useInfiniteQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { api, unwrap, type Schemas } from "../api/client";
import { Countdown } from "../components/Countdown";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatDateTime, formatWon } from "../lib/format";

type Event = Schemas["EventListItem"];
export const TABS = ["on_sale", "upcoming", "ended", "cancelled", "all"] as const;
export type Tab = (typeof TABS)[number];

/** Events whose price range overlaps `[min, max]` (either bound optional). */
export function inPriceRange(e: Pick<Event, "min_price" | "max_price">, min?: number, max?: number) {
  if (min === undefined && max === undefined) return true;
  if (e.min_price == null || e.max_price == null) return false;
  return (min === undefined || e.max_price >= min) && (max === undefined || e.min_price <= max);
}

export function EventsPage() {
  const { t, lang } = useLang();
  const [params, setParams] = useSearchParams();
  const tab = (TABS as readonly string[]).includes(params.get("status") ?? "")
    ? (params.get("status") as Tab)
    : "on_sale";
  const q = params.get("q") ?? "";
  const [draft, setDraft] = useState(q);
  const [minPrice, setMinPrice] = useState("");
  const [maxPrice, setMaxPrice] = useState("");

  const list = useInfiniteQuery({
    queryKey: ["events", tab, q],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET("/api/v1/events", {
          params: {
            query: {
              status: tab === "all" ? undefined : tab,
              q: q || undefined,
              cursor: pageParam,
              limit: 20,
            },
          },
        }),
      ),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });

  const min = minPrice === "" ? undefined : Number(minPrice);
  const max = maxPrice === "" ? undefined : Number(maxPrice);
  const events = useMemo(
    () => (list.data?.pages ?? []).flatMap((p) => p.items).filter((e) => inPriceRange(e, min, max)),
    [list.data, min, max],
  );

  const set = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    setParams(next, { replace: true });
  };

  return (
    <section>
      <h1>{t("events.title")}</h1>
      <div role="tablist" aria-label={t("events.tabsLabel")} className="tabs">
        {TABS.map((s) => (
          <button
            key={s}
            role="tab"
            type="button"
            aria-selected={tab === s}
            onClick={() => set("status", s === "on_sale" ? "" : s)}
          >
            {t(`events.tab.${s}`)}
          </button>
        ))}
      </div>
      <form
        className="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          set("q", draft.trim());
        }}
      >
        <label>
          {t("events.search")}
          <input type="search" value={draft} onChange={(e) => setDraft(e.target.value)} />
        </label>
        <label>
          {t("events.minPrice")}
          <input type="number" min={0} step={1000} inputMode="numeric" value={minPrice}
            onChange={(e) => setMinPrice(e.target.value)} />
        </label>
        <label>
          {t("events.maxPrice")}
          <input type="number" min={0} step={1000} inputMode="numeric" value={maxPrice}
            onChange={(e) => setMaxPrice(e.target.value)} />
        </label>
        <button type="submit">{t("events.searchButton")}</button>
      </form>
      <ProblemMessage error={list.error} />
      {list.isPending && <p className="muted" role="status">{t("common.loading")}</p>}
      {!list.isPending && events.length === 0 && <p className="muted">{t("events.none")}</p>}
      <ul className="cards">
        {events.map((e) => (
          <li key={e.id} className="card">
            <Link to={`/events/${e.id}`} className="card-link">
              {e.poster_url ? (
                <img src={e.poster_url} alt="" loading="lazy" className="poster" />
              ) : (
                <div className="poster placeholder" aria-hidden="true">{e.title.slice(0, 1)}</div>
              )}
              <span className="card-title">{e.title}</span>
            </Link>
            <p className="muted">
              {e.artist && <>{lang === "en" && e.artist.name_en ? e.artist.name_en : e.artist.name} · </>}
              {e.venue.name}
            </p>
            <p>{formatDateTime(e.starts_at, lang)}</p>
            {e.min_price != null && e.max_price != null && (
              <p>
                {e.min_price === e.max_price
                  ? formatWon(e.min_price, lang)
                  : `${formatWon(e.min_price, lang)} – ${formatWon(e.max_price, lang)}`}
              </p>
            )}
            <p>
              <span className={`badge ${e.status}`}>{t(`status.${e.status}`)}</span>{" "}
              {e.status === "upcoming" && <Countdown target={e.sale_opens_at} label={t("events.opensIn")} />}
              {e.status === "on_sale" && <Countdown target={e.sale_closes_at} label={t("events.closesIn")} />}
            </p>
          </li>
        ))}
      </ul>
      {list.hasNextPage && (
        <button type="button" onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage}>
          {t("common.more")}
        </button>
      )}
    </section>
  );
}
