// `/events/{id}`: everything about one event, and the booking button, which goes where
// the event's queue says: the edge waiting room (a page of the edge, so a full
// navigation), the origin's line, or straight to seats or ticket types.
import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router";
import { api, unwrap, type Schemas } from "../api/client";
import { useAuth } from "../api/auth";
import { Countdown } from "../components/Countdown";
import { PresaleWindows, TierBadge } from "../components/Presale";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatDateTime, formatWon } from "../lib/format";

type Detail = Schemas["EventDetail"];

/** Where the booking button leads, and whether it is a page of the edge. */
export function bookingTarget(e: Pick<Detail, "id" | "queue_mode" | "has_seat_map">) {
  switch (e.queue_mode) {
    case "edge":
      return { href: `/e/${e.id}`, edge: true };
    case "origin":
      return { href: `/events/${e.id}/queue`, edge: false };
    default:
      return { href: `/events/${e.id}/${e.has_seat_map ? "seats" : "book"}`, edge: false };
  }
}

export default function EventPage() {
  const { id = "" } = useParams();
  const { t, lang } = useLang();
  const { user } = useAuth();
  const detail = useQuery({
    // Signed in, the detail also says when this fan may book (their presale window).
    queryKey: ["event", id, user?.id ?? null],
    queryFn: () => unwrap(api.GET("/api/v1/events/{event_id}", { params: { path: { event_id: id } } })),
  });
  const seats = useQuery({
    queryKey: ["seats", id],
    enabled: !!detail.data?.has_seat_map,
    queryFn: () =>
      unwrap(api.GET("/api/v1/events/{event_id}/seats", { params: { path: { event_id: id } } })),
  });
  if (detail.error) return <ProblemMessage error={detail.error} />;
  const e = detail.data;
  if (!e) return <p className="muted" role="status">{t("common.loading")}</p>;
  const target = bookingTarget(e);
  const artist = e.artist && (lang === "en" && e.artist.name_en ? e.artist.name_en : e.artist.name);

  return (
    <article className="event">
      <div className="event-head">
        {e.poster_url ? (
          <img src={e.poster_url} alt={t("event.poster", { title: e.title })} className="poster large" />
        ) : (
          <div className="poster large placeholder" aria-hidden="true">{e.title.slice(0, 1)}</div>
        )}
        <div>
          <h1>{e.title}</h1>
          {artist && <p className="muted">{artist}</p>}
          <dl className="facts">
            <dt>{t("event.venue")}</dt>
            <dd>{e.venue.name} · {e.venue.address}</dd>
            <dt>{t("event.date")}</dt>
            <dd>{formatDateTime(e.starts_at, lang)}</dd>
            <dt>{t("event.sale")}</dt>
            <dd>
              {formatDateTime(e.sale_opens_at, lang)} – {formatDateTime(e.sale_closes_at, lang)}
            </dd>
            <dt>{t("event.limit")}</dt>
            <dd>{t("event.limitValue", { count: e.max_tickets_per_user })}</dd>
            <dt>{t("event.queue")}</dt>
            <dd>{t(`event.queueMode.${e.queue_mode}`)}</dd>
          </dl>
          <p>
            <span className={`badge ${e.status}`}>{t(`status.${e.status}`)}</span>{" "}
            {e.status === "upcoming" && <Countdown target={e.sale_opens_at} label={t("events.opensIn")} />}
            {e.status === "on_sale" && <Countdown target={e.sale_closes_at} label={t("events.closesIn")} />}
          </p>
          {e.your_presale && (
            <p className={`banner ${e.your_presale.open ? "info" : "warn"}`}>
              <TierBadge tier={e.your_presale.tier} />{" "}
              {e.your_presale.open
                ? t("presale.yoursOpen")
                : t("presale.yoursAt", { at: formatDateTime(e.your_presale.opens_at, lang) })}
              {!e.your_presale.open && e.status === "on_sale" && (
                <>
                  {" "}
                  <Countdown target={e.your_presale.opens_at} label={t("events.opensIn")} />
                </>
              )}
            </p>
          )}
          {e.status === "on_sale" && e.your_presale && !e.your_presale.open ? (
            <p className="muted">
              {t("presale.waitOrJoin")} {e.artist && <Link to={`/artists/${e.artist.id}`}>{t("artist.fanClub")}</Link>}
            </p>
          ) : e.status === "on_sale" ? (
            target.edge ? (
              <a className="button primary" href={target.href}>{t("event.book")}</a>
            ) : (
              <Link className="button primary" to={target.href}>{t("event.book")}</Link>
            )
          ) : (
            <p className="muted">{t(`event.notBookable.${e.status}`)}</p>
          )}
        </div>
      </div>
      {e.description && <p className="description">{e.description}</p>}
      {e.presale && <PresaleWindows schedule={e.presale} mine={e.your_presale} />}
      {e.status === "on_sale" && (
        <p>
          <Link to={`/transfers?event=${e.id}`}>{t("resale.forEvent")}</Link>
        </p>
      )}
      <h2>{t("event.tickets")}</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">{t("event.type")}</th>
            <th scope="col">{t("event.price")}</th>
            <th scope="col">{t("event.left")}</th>
          </tr>
        </thead>
        <tbody>
          {(e.seat_map?.sections ?? []).map((s) => {
            const left = seats.data?.seats.filter((x) => x.section === s.name && x.status === "available").length;
            return (
              <tr key={`s-${s.name}`}>
                <td>{s.name} ({s.grade})</td>
                <td>{formatWon(s.price, lang)}</td>
                <td>{left === undefined ? "…" : t("event.seatsLeft", { count: left })}</td>
              </tr>
            );
          })}
          {e.ticket_types.map((tt) => (
            <tr key={tt.id}>
              <td>{tt.name}</td>
              <td>{formatWon(tt.price, lang)}</td>
              <td>{t("event.ticketsLeft", { count: tt.available_quantity })}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </article>
  );
}
