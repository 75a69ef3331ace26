// The seat map: one SVG, sections stacked, rows of seats. Built for a 4,900-seat
// stadium:
//
// - every seat is a focusable button whose accessible name starts with its label
//   (`Floor1-1-2, 80,000원`), with `aria-pressed` for selected and `aria-disabled` for
//   held or sold seats;
// - one click and one key handler on the SVG (event delegation), not 4,900;
// - seats are memoised: a selection or a status refresh re-renders only the seats
//   whose state changed;
// - one seat is in the tab order at a time (roving tabindex): Tab enters the map,
//   the arrow keys move between seats (left/right along the row, up/down across rows),
//   Enter or Space selects.
import { memo, useCallback, useMemo, useRef, useState, type KeyboardEvent, type MouseEvent } from "react";
import type { Schemas } from "../api/client";
import { useLang } from "../i18n";
import { formatWon } from "../lib/format";

export type SeatState = "available" | "held" | "sold";

const PITCH = 12;
const SIZE = 10;
const LEFT = 40;
const HEADER = 22;

interface PlacedSeat {
  id: string;
  label: string;
  price: number;
  x: number;
  y: number;
  /** Row and index within the row, for arrow-key moves. */
  row: number;
  col: number;
}

interface Layout {
  seats: PlacedSeat[];
  rows: PlacedSeat[][];
  headers: { text: string; y: number }[];
  rowLabels: { text: string; y: number }[];
  width: number;
  height: number;
}

export function layoutSeats(map: Schemas["SeatMap"]): Layout {
  const seats: PlacedSeat[] = [];
  const rows: PlacedSeat[][] = [];
  const headers: Layout["headers"] = [];
  const rowLabels: Layout["rowLabels"] = [];
  let y = 0;
  let widest = 0;
  for (const section of map.sections) {
    y += HEADER;
    headers.push({ text: `${section.name} · ${section.grade}`, y: y - 6 });
    for (const row of section.rows) {
      const placed = row.seats.map((s, i) => ({
        id: s.id,
        label: s.label,
        price: s.price,
        x: LEFT + i * PITCH,
        y,
        row: rows.length,
        col: i,
      }));
      rowLabels.push({ text: row.label, y: y + SIZE - 1 });
      rows.push(placed);
      seats.push(...placed);
      widest = Math.max(widest, row.seats.length);
      y += PITCH;
    }
    y += 8;
  }
  return { seats, rows, headers, rowLabels, width: LEFT + widest * PITCH + 8, height: y };
}

interface SeatProps {
  seat: PlacedSeat;
  name: string;
  state: SeatState;
  selected: boolean;
  tabbable: boolean;
}

const Seat = memo(function Seat({ seat, name, state, selected, tabbable }: SeatProps) {
  return (
    <rect
      x={seat.x}
      y={seat.y}
      width={SIZE}
      height={SIZE}
      rx={2}
      role="button"
      tabIndex={tabbable ? 0 : -1}
      aria-label={name}
      aria-pressed={selected}
      aria-disabled={state !== "available"}
      data-seat-id={seat.id}
      className={`seat ${selected ? "selected" : state}`}
    />
  );
});

/** One string per row of what changes per seat, so a row re-renders only when one of
 *  its own seats changed (a selection touches one row of 80). */
function rowKey(row: PlacedSeat[], f: (s: PlacedSeat) => string): string {
  return row.map(f).join(",");
}

interface SeatRowProps {
  row: PlacedSeat[];
  states: string;
  selected: string;
  tabbableId: string | null;
  lang: "ko" | "en";
  stateWord: Record<SeatState, string>;
}

const SeatRow = memo(function SeatRow({ row, states, selected, tabbableId, lang, stateWord }: SeatRowProps) {
  const st = states.split(",") as SeatState[];
  const sel = selected.split(",");
  return (
    <>
      {row.map((s, i) => (
        <Seat
          key={s.id}
          seat={s}
          name={`${s.label}, ${formatWon(s.price, lang)}${stateWord[st[i]]}`}
          state={st[i]}
          selected={sel[i] === "1"}
          tabbable={s.id === tabbableId}
        />
      ))}
    </>
  );
});

export interface SeatMapProps {
  map: Schemas["SeatMap"];
  states: ReadonlyMap<string, SeatState>;
  selected: ReadonlySet<string>;
  onToggle(id: string): void;
}

export function SeatMap({ map, states, selected, onToggle }: SeatMapProps) {
  const { t, lang } = useLang();
  const layout = useMemo(() => layoutSeats(map), [map]);
  const byId = useMemo(() => new Map(layout.seats.map((s) => [s.id, s])), [layout]);
  const [focusId, setFocusId] = useState<string | null>(null);
  const [zoom, setZoom] = useState(1);
  const svgRef = useRef<SVGSVGElement>(null);
  const stateWord = useMemo<Record<SeatState, string>>(
    () => ({ available: "", held: `, ${t("seats.held")}`, sold: `, ${t("seats.sold")}` }),
    [t],
  );

  const seatFrom = (target: EventTarget | null) =>
    (target as Element | null)?.closest?.("[data-seat-id]")?.getAttribute("data-seat-id") ?? null;

  const onClick = useCallback(
    (e: MouseEvent<SVGSVGElement>) => {
      const id = seatFrom(e.target);
      if (!id) return;
      setFocusId(id);
      onToggle(id);
    },
    [onToggle],
  );

  const onKeyDown = useCallback(
    (e: KeyboardEvent<SVGSVGElement>) => {
      const id = seatFrom(e.target);
      const seat = id ? byId.get(id) : undefined;
      if (!seat) return;
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        onToggle(seat.id);
        return;
      }
      const moves: Record<string, [number, number]> = {
        ArrowLeft: [0, -1],
        ArrowRight: [0, 1],
        ArrowUp: [-1, 0],
        ArrowDown: [1, 0],
      };
      const move = moves[e.key];
      if (!move) return;
      e.preventDefault();
      const row = layout.rows[seat.row + move[0]];
      const next = row?.[Math.min(seat.col + move[1], row.length - 1)];
      if (!next || next.col < 0) return;
      setFocusId(next.id);
      svgRef.current?.querySelector<SVGElement>(`[data-seat-id="${next.id}"]`)?.focus();
    },
    [byId, layout, onToggle],
  );

  const tabbableId = focusId ?? layout.seats.find((s) => (states.get(s.id) ?? "available") === "available")?.id ?? layout.seats[0]?.id;

  return (
    <div className="seatmap">
      <div className="seatmap-tools">
        <button type="button" onClick={() => setZoom((z) => Math.min(4, z * 1.25))} aria-label={t("seats.zoomIn")}>+</button>
        <button type="button" onClick={() => setZoom((z) => Math.max(0.5, z / 1.25))} aria-label={t("seats.zoomOut")}>−</button>
        <ul className="legend" aria-label={t("seats.legend")}>
          <li><span className="swatch available" />{t("seats.available")}</li>
          <li><span className="swatch selected" />{t("seats.selected")}</li>
          <li><span className="swatch held" />{t("seats.held")}</li>
          <li><span className="swatch sold" />{t("seats.sold")}</li>
        </ul>
      </div>
      <div className="seatmap-scroll">
        <svg
          ref={svgRef}
          viewBox={`0 0 ${layout.width} ${layout.height}`}
          width={layout.width * zoom * 1.5}
          height={layout.height * zoom * 1.5}
          role="group"
          aria-label={t("seats.mapLabel")}
          onClick={onClick}
          onKeyDown={onKeyDown}
        >
          {layout.headers.map((h) => (
            <text key={`h${h.y}`} x={LEFT} y={h.y} className="section-label" aria-hidden="true">{h.text}</text>
          ))}
          {layout.rowLabels.map((r) => (
            <text key={`r${r.y}`} x={LEFT - 6} y={r.y} className="row-label" textAnchor="end" aria-hidden="true">{r.text}</text>
          ))}
          {layout.rows.map((row) => (
            <SeatRow
              key={row[0]?.id ?? "empty"}
              row={row}
              states={rowKey(row, (s) => states.get(s.id) ?? "available")}
              selected={rowKey(row, (s) => (selected.has(s.id) ? "1" : "0"))}
              tabbableId={row.some((s) => s.id === tabbableId) ? tabbableId : null}
              lang={lang}
              stateWord={stateWord}
            />
          ))}
        </svg>
      </div>
    </div>
  );
}
