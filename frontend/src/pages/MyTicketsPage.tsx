// `/me/tickets`: newest first, each with its QR code (drawn here from the signed
// payload, so it works offline once loaded) and the printed code under it.
import { useInfiniteQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Link } from "react-router";
import { api, unwrap, type Schemas } from "../api/client";
import { ProblemMessage } from "../components/ProblemMessage";
import { useLang } from "../i18n";
import { formatDateTime, formatWon } from "../lib/format";

function QrCode({ payload, label }: { payload: string; label: string }) {
  const [src, setSrc] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    void import("qrcode").then((qr) =>
      qr.toDataURL(payload, { errorCorrectionLevel: "M", margin: 1, width: 220 }).then((url) => {
        if (live) setSrc(url);
      }),
    );
    return () => {
      live = false;
    };
  }, [payload]);
  return src ? <img src={src} alt={label} width={220} height={220} className="qr" /> : <div className="qr placeholder" />;
}

/** Puts a ticket on the resale market, at most at its face value. */
function ListForResale({ ticket }: { ticket: Schemas["Ticket"] }) {
  const { t, lang } = useLang();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [price, setPrice] = useState(String(ticket.price));
  const [error, setError] = useState<unknown>(null);
  const [listed, setListed] = useState<Schemas["Listing"] | null>(null);
  if (listed) {
    return (
      <p role="status" className="banner info">
        {t("resale.listed", { payout: formatWon(listed.payout, lang) })} <Link to="/transfers/my">{t("resale.mine")}</Link>
      </p>
    );
  }
  if (!open) {
    return (
      <button type="button" onClick={() => setOpen(true)}>{t("resale.list")}</button>
    );
  }
  const submit = async () => {
    setError(null);
    try {
      const l = await unwrap(
        api.POST("/api/v1/tickets/{ticket_id}/transfer-listing", {
          params: { path: { ticket_id: ticket.id } },
          body: { price: Number(price) },
        }),
      );
      setListed(l);
      await queryClient.invalidateQueries({ queryKey: ["my-listings"] });
    } catch (e) {
      setError(e);
    }
  };
  return (
    <form
      className="resale-form"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <label>
        {t("resale.price")}{" "}
        <input type="number" min={100} max={ticket.price} step={100} value={price} onChange={(e) => setPrice(e.target.value)} />
      </label>
      <p className="muted">{t("resale.atMostFace", { price: formatWon(ticket.price, lang) })}</p>
      <ProblemMessage error={error} />
      <button type="submit" className="primary">{t("resale.confirmList")}</button>
    </form>
  );
}

export default function MyTicketsPage() {
  const { t, lang } = useLang();
  const list = useInfiniteQuery({
    queryKey: ["my-tickets"],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(api.GET("/api/v1/me/tickets", { params: { query: { cursor: pageParam, limit: 20 } } })),
    getNextPageParam: (p) => p.next_cursor ?? undefined,
  });
  const items: Schemas["Ticket"][] = (list.data?.pages ?? []).flatMap((p) => p.items);
  return (
    <section>
      <h1>{t("nav.tickets")}</h1>
      <ProblemMessage error={list.error} />
      {list.isPending && <p role="status">{t("common.loading")}</p>}
      {!list.isPending && items.length === 0 && <p className="muted">{t("tickets.none")}</p>}
      <div className="ticket-grid">
        {items.map((tk) => (
          <article key={tk.id} className={`ticket ${tk.status}`} aria-labelledby={`tk-${tk.id}`}>
            <h2 id={`tk-${tk.id}`}>{tk.event_title}</h2>
            <p>{tk.label} · {formatWon(tk.price, lang)}</p>
            <p className="muted">{formatDateTime(tk.starts_at, lang)}</p>
            {tk.status === "valid" && tk.qr ? (
              <QrCode payload={tk.qr} label={t("tickets.qr", { label: tk.label })} />
            ) : (
              <p className="badge void">{t(`tickets.status.${tk.status}`)}</p>
            )}
            <p className="code">{tk.code}</p>
            {tk.checked_in_at && (
              <p className="muted">{t("tickets.checkedIn", { at: formatDateTime(tk.checked_in_at, lang) })}</p>
            )}
            {tk.status === "valid" && !tk.checked_in_at && <ListForResale ticket={tk} />}
          </article>
        ))}
      </div>
      {list.hasNextPage && (
        <button type="button" onClick={() => void list.fetchNextPage()}>{t("common.more")}</button>
      )}
    </section>
  );
}
