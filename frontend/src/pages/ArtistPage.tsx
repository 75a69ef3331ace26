// `/artists/{id}`: the artist, the fan-club box (join, renew, or your tier and
// points), what each tier gets, and the artist's events with their presale schedules.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useParams } from "react-router";
import { api, unwrap } from "../api/client";
import { useAuth } from "../api/auth";
import { PresaleWindows, TierBadge, TierBenefits } from "../components/Presale";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatDateTime, formatWon } from "../lib/format";
import { usePayOrder } from "../lib/order";

/** Members may renew in the last 30 days of their year (the server's rule too). */
export function canRenew(expiresAt: string | null | undefined, now: number): boolean {
  if (!expiresAt) return true;
  return new Date(expiresAt).getTime() - now <= 30 * 24 * 3600 * 1000;
}

function EventPresale({ eventId }: { eventId: string }) {
  const { user } = useAuth();
  const d = useQuery({
    queryKey: ["event", eventId, user?.id ?? null],
    queryFn: () => unwrap(api.GET("/api/v1/events/{event_id}", { params: { path: { event_id: eventId } } })),
  });
  if (!d.data?.presale) return null;
  return <PresaleWindows schedule={d.data.presale} mine={d.data.your_presale} />;
}

export default function ArtistPage() {
  const { id = "" } = useParams();
  const { t, lang } = useLang();
  const { user } = useAuth();
  const queryClient = useQueryClient();
  const { pay, error, busy } = usePayOrder();
  const artist = useQuery({
    queryKey: ["artist", id],
    queryFn: () => unwrap(api.GET("/api/v1/artists/{artist_id}", { params: { path: { artist_id: id } } })),
  });
  const mine = useQuery({
    queryKey: ["my-memberships"],
    enabled: !!user,
    queryFn: () => unwrap(api.GET("/api/v1/me/memberships")),
  });
  if (artist.error) return <ProblemMessage error={artist.error} />;
  const a = artist.data;
  if (!a) return <p role="status">{t("common.loading")}</p>;
  const membership = mine.data?.items.find((m) => m.artist_id === a.id);
  const join = () =>
    void pay(
      unwrap(api.POST("/api/v1/artists/{artist_id}/memberships", { params: { path: { artist_id: a.id } } })).then(
        (r) => {
          void queryClient.invalidateQueries({ queryKey: ["my-memberships"] });
          return r.order;
        },
      ),
      `/artists/${a.id}`,
    );
  const name = lang === "en" && a.name_en ? a.name_en : a.name;
  return (
    <article>
      <h1>{name}</h1>
      {a.bio && <p className="description">{a.bio}</p>}
      <section className="membership-box" aria-labelledby="fanclub">
        <h2 id="fanclub">{t("artist.fanClub")}</h2>
        <p>{t("artist.membershipPrice", { price: formatWon(a.membership_price, lang) })}</p>
        {membership && membership.status !== "pending" && (
          <p>
            <TierBadge tier={membership.tier} /> {t(`membership.status.${membership.status}`)} ·{" "}
            {t("membership.points", { count: membership.points })}
            {membership.expires_at && <> · {t("membership.until", { at: formatDateTime(membership.expires_at, lang) })}</>}
          </p>
        )}
        <ProblemMessage error={error} />
        {!user ? (
          <Link className="button" to={`/login?next=/artists/${a.id}`}>{t("artist.loginToJoin")}</Link>
        ) : membership?.status === "active" && !canRenew(membership.expires_at, Date.now()) ? (
          <Link to="/me/memberships">{t("nav.memberships")}</Link>
        ) : (
          <button type="button" className="primary" disabled={busy} onClick={join}>
            {membership?.status === "active" || membership?.status === "expired"
              ? t("artist.renew", { price: formatWon(a.membership_price, lang) })
              : t("artist.join", { price: formatWon(a.membership_price, lang) })}
          </button>
        )}
      </section>
      <TierBenefits />
      <h2>{t("artist.upcoming")}</h2>
      {a.events.length === 0 && <p className="muted">{t("events.none")}</p>}
      <ul className="rows">
        {a.events.map((e) => (
          <li key={e.id} className="row-card">
            <div>
              <strong><Link to={`/events/${e.id}`}>{e.title}</Link></strong>
              <p className="muted">{formatDateTime(e.starts_at, lang)} · {e.venue.name}</p>
              <EventPresale eventId={e.id} />
            </div>
          </li>
        ))}
      </ul>
    </article>
  );
}
