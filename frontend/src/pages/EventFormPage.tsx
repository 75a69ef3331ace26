// `/promoter/events/new` and `/promoter/events/{id}/edit`: an event's venue, artist,
// seat layout or standing ticket types, sale window and show time (entered in Korean
// time), per-fan limit. Edits send the version read, so two editors never overwrite
// each other silently; the server's field errors appear next to their fields.
import { useQuery } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";
import { useNavigate, useParams } from "react-router";
import { api, ApiError, unwrap, type Schemas } from "../api/client";
import { ImageUpload } from "../components/ImageUpload";
import { FieldMessage, ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { fromKstInput, toKstInput } from "../lib/format";

interface TicketTypeDraft {
  /** Set for a ticket type that exists (edited with PATCH); new ones are created. */
  id?: string;
  version?: number;
  name: string;
  price: string;
  total_quantity: string;
}

const blank = {
  title: "",
  description: "",
  venue_id: "",
  artist_id: "",
  seat_layout_id: "",
  poster_url: "",
  starts_at: "",
  sale_opens_at: "",
  sale_closes_at: "",
  max_tickets_per_user: "4",
};

export default function EventFormPage() {
  const { id } = useParams();
  const editing = !!id;
  const { t } = useLang();
  const navigate = useNavigate();
  const [form, setForm] = useState(blank);
  const [types, setTypes] = useState<TicketTypeDraft[]>([]);
  const [version, setVersion] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const venues = useQuery({ queryKey: ["venues"], queryFn: () => unwrap(api.GET("/api/v1/venues", { params: { query: { limit: 100 } } })) });
  const artists = useQuery({ queryKey: ["artists"], queryFn: () => unwrap(api.GET("/api/v1/artists", { params: { query: { limit: 100 } } })) });
  const layouts = useQuery({ queryKey: ["layouts"], queryFn: () => unwrap(api.GET("/api/v1/seat-layouts", { params: { query: { limit: 100 } } })) });
  const current = useQuery({
    queryKey: ["event", id],
    enabled: editing,
    queryFn: () => unwrap(api.GET("/api/v1/events/{event_id}", { params: { path: { event_id: id! } } })),
  });
  useEffect(() => {
    const e = current.data;
    if (!e) return;
    setForm({
      title: e.title,
      description: e.description,
      venue_id: e.venue.id,
      artist_id: e.artist?.id ?? "",
      seat_layout_id: e.seat_map?.layout.id ?? "",
      poster_url: e.poster_url ?? "",
      starts_at: toKstInput(e.starts_at),
      sale_opens_at: toKstInput(e.sale_opens_at),
      sale_closes_at: toKstInput(e.sale_closes_at),
      max_tickets_per_user: String(e.max_tickets_per_user),
    });
    setVersion(e.version);
    setTypes(
      e.ticket_types.map((tt) => ({
        id: tt.id,
        version: tt.version,
        name: tt.name,
        price: String(tt.price),
        total_quantity: String(tt.total_quantity),
      })),
    );
  }, [current.data]);

  const set = (k: keyof typeof blank) => (e: { target: { value: string } }) =>
    setForm((f) => ({ ...f, [k]: e.target.value }));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const when = (v: string) => (v ? fromKstInput(v) : "");
      if (editing && id) {
        const body: Schemas["UpdateEvent"] = {
          venue_id: form.venue_id,
          artist_id: form.artist_id || null,
          title: form.title,
          description: form.description,
          poster_url: form.poster_url || null,
          starts_at: when(form.starts_at),
          sale_opens_at: when(form.sale_opens_at),
          sale_closes_at: when(form.sale_closes_at),
          max_tickets_per_user: Number(form.max_tickets_per_user),
          version,
        };
        await unwrap(api.PATCH("/api/v1/events/{event_id}", { params: { path: { event_id: id } }, body }));
        // Ticket types: changed ones are patched (with the version read), new ones added.
        const before = new Map((current.data?.ticket_types ?? []).map((tt) => [tt.id, tt]));
        for (const tt of types) {
          const price = Number(tt.price);
          const total = Number(tt.total_quantity);
          const old = tt.id ? before.get(tt.id) : undefined;
          if (tt.id && old) {
            if (old.name === tt.name && old.price === price && old.total_quantity === total) continue;
            await unwrap(
              api.PATCH("/api/v1/ticket-types/{ticket_type_id}", {
                params: { path: { ticket_type_id: tt.id } },
                body: { name: tt.name, price, total_quantity: total, version: tt.version },
              }),
            );
          } else if (!tt.id) {
            await unwrap(
              api.POST("/api/v1/events/{event_id}/ticket-types", {
                params: { path: { event_id: id } },
                body: { name: tt.name, price, total_quantity: total },
              }),
            );
          }
        }
        navigate("/promoter");
      } else {
        const body: Schemas["CreateEvent"] = {
          title: form.title,
          description: form.description,
          venue_id: form.venue_id,
          artist_id: form.artist_id || null,
          seat_layout_id: form.seat_layout_id || null,
          poster_url: form.poster_url || null,
          starts_at: when(form.starts_at),
          sale_opens_at: when(form.sale_opens_at),
          sale_closes_at: when(form.sale_closes_at),
          max_tickets_per_user: Number(form.max_tickets_per_user),
          ticket_types: types.map((tt) => ({
            name: tt.name,
            price: Number(tt.price),
            total_quantity: Number(tt.total_quantity),
          })),
        };
        const created = await unwrap(api.POST("/api/v1/events", { body }));
        navigate(`/promoter/events/${created.id}/rules`);
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const input = (k: keyof typeof blank, type = "text", extra: Record<string, unknown> = {}) => (
    <label>
      {t(`eventForm.${k}`)}
      <input type={type} value={form[k]} onChange={set(k)} aria-describedby={`err-${k}`}
        aria-invalid={error instanceof ApiError && !!error.field(k)} {...extra} />
      <FieldMessage error={error} field={k} id={`err-${k}`} />
    </label>
  );
  const select = (k: "venue_id" | "artist_id" | "seat_layout_id", options: { id: string; name: string }[], none?: string) => (
    <label>
      {t(`eventForm.${k}`)}
      {/* The seat layout is fixed once seats exist; venue and artist can still change. */}
      <select value={form[k]} onChange={set(k)} disabled={editing && k === "seat_layout_id"} aria-describedby={`err-${k}`}>
        {none !== undefined && <option value="">{none}</option>}
        {none === undefined && <option value="" disabled>{t("eventForm.choose")}</option>}
        {options.map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
      </select>
      <FieldMessage error={error} field={k} id={`err-${k}`} />
    </label>
  );

  return (
    <section className="narrow wide-form">
      <h1>{editing ? t("eventForm.editTitle") : t("eventForm.createTitle")}</h1>
      <ProblemMessage error={error} />
      <form onSubmit={(e) => void submit(e)} className="stack" noValidate>
        {input("title", "text", { required: true, maxLength: 200 })}
        <label>
          {t("eventForm.description")}
          <textarea value={form.description} onChange={set("description")} rows={4} />
        </label>
        {select("venue_id", (venues.data?.items ?? []).map((v) => ({ id: v.id, name: `${v.name} (${v.city})` })))}
        {select("artist_id", (artists.data?.items ?? []).map((a) => ({ id: a.id, name: a.name })), t("eventForm.noArtist"))}
        {select("seat_layout_id", (layouts.data?.items ?? []).map((l) => ({ id: l.id, name: `${l.description} · ${l.total_seats.toLocaleString()}` })), t("eventForm.standingOnly"))}
        {input("poster_url", "text")}
        <ImageUpload onUploaded={(url) => setForm((f) => ({ ...f, poster_url: url }))} />
        {form.poster_url && <img src={form.poster_url} alt={t("upload.preview")} className="poster-preview" />}
        {input("starts_at", "datetime-local", { required: true })}
        {input("sale_opens_at", "datetime-local", { required: true })}
        {input("sale_closes_at", "datetime-local", { required: true })}
        {input("max_tickets_per_user", "number", { min: 1, max: 10 })}
        {(!editing || !current.data?.seat_map) && (
          <fieldset>
            <legend>{t("eventForm.ticketTypes")}</legend>
            {types.map((tt, i) => (
              <div key={i} className="inline">
                <label>{t("eventForm.ttName")}<input value={tt.name} onChange={(e) => setTypes((ts) => ts.map((x, j) => (j === i ? { ...x, name: e.target.value } : x)))} /></label>
                <label>{t("eventForm.ttPrice")}<input type="number" min={0} value={tt.price} onChange={(e) => setTypes((ts) => ts.map((x, j) => (j === i ? { ...x, price: e.target.value } : x)))} /></label>
                <label>{t("eventForm.ttQuantity")}<input type="number" min={0} value={tt.total_quantity} onChange={(e) => setTypes((ts) => ts.map((x, j) => (j === i ? { ...x, total_quantity: e.target.value } : x)))} /></label>
                {!tt.id && (
                  <button type="button" className="link" onClick={() => setTypes((ts) => ts.filter((_, j) => j !== i))}>{t("eventForm.remove")}</button>
                )}
                <FieldMessage error={error} field={`ticket_types[${i}].price`} id={`err-tt-${i}`} />
              </div>
            ))}
            <button type="button" onClick={() => setTypes((ts) => [...ts, { name: "", price: "", total_quantity: "" }])}>
              {t("eventForm.addType")}
            </button>
          </fieldset>
        )}
        <button type="submit" className="primary" disabled={busy}>{t("eventForm.save")}</button>
      </form>
    </section>
  );
}
