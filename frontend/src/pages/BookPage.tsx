// `/events/{id}/book`: standing tickets by quantity, within the stock left and the
// per-fan limit, then a hold.
import { useQuery } from "@tanstack/react-query";
import { useRef, useState } from "react";
import { useNavigate, useParams } from "react-router";
import { api, newIdempotencyKey, unwrap } from "../api/client";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatWon } from "../lib/format";

export default function BookPage() {
  const { id = "" } = useParams();
  const { t, lang } = useLang();
  const navigate = useNavigate();
  const path = { event_id: id };
  const detail = useQuery({
    queryKey: ["event", id],
    queryFn: () => unwrap(api.GET("/api/v1/events/{event_id}", { params: { path } })),
  });
  const [qty, setQty] = useState<Record<string, number>>({});
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const key = useRef<string | null>(null);
  if (detail.error) return <ProblemMessage error={detail.error} />;
  const e = detail.data;
  if (!e) return <p className="muted" role="status">{t("common.loading")}</p>;
  const limit = e.max_tickets_per_user;
  const count = Object.values(qty).reduce((a, b) => a + b, 0);
  const total = e.ticket_types.reduce((sum, tt) => sum + (qty[tt.id] ?? 0) * tt.price, 0);
  const change = (ttId: string, delta: number, stock: number) => {
    key.current = null;
    setQty((cur) => {
      const now = cur[ttId] ?? 0;
      const next = Math.max(0, Math.min(now + delta, stock, now + (limit - count)));
      return { ...cur, [ttId]: next };
    });
  };
  const hold = async () => {
    setBusy(true);
    setError(null);
    key.current ??= newIdempotencyKey();
    try {
      const items = Object.entries(qty)
        .filter(([, q]) => q > 0)
        .map(([ticket_type_id, quantity]) => ({ ticket_type_id, quantity }));
      const r = await unwrap(
        api.POST("/api/v1/events/{event_id}/reservations", {
          params: { path, header: { "Idempotency-Key": key.current } },
          body: { items },
        }),
      );
      navigate(`/checkout/${r.id}`);
    } catch (err) {
      setError(err);
      key.current = null;
      void detail.refetch();
    } finally {
      setBusy(false);
    }
  };
  return (
    <section>
      <h1>{e.title}</h1>
      <p className="muted">{t("book.intro", { count: limit })}</p>
      <ProblemMessage error={error} />
      <ul className="ticket-types">
        {e.ticket_types.map((tt) => {
          const q = qty[tt.id] ?? 0;
          return (
            <li key={tt.id} className="ticket-type">
              <div>
                <strong>{tt.name}</strong> · {formatWon(tt.price, lang)}
                <p className="muted">{t("event.ticketsLeft", { count: tt.available_quantity })}</p>
              </div>
              <div className="stepper" role="group" aria-label={tt.name}>
                <button type="button" aria-label={t("book.less", { name: tt.name })} disabled={q === 0}
                  onClick={() => change(tt.id, -1, tt.available_quantity)}>−</button>
                <output aria-live="polite" aria-label={t("book.quantity", { name: tt.name })}>{q}</output>
                <button type="button" aria-label={t("book.more", { name: tt.name })}
                  disabled={q >= tt.available_quantity || count >= limit}
                  onClick={() => change(tt.id, 1, tt.available_quantity)}>+</button>
              </div>
            </li>
          );
        })}
      </ul>
      <p className="total">{t("common.total")}: {formatWon(total, lang)}</p>
      <button type="button" className="primary" disabled={count === 0 || busy} onClick={() => void hold()}>
        {t("book.continue")}
      </button>
    </section>
  );
}
