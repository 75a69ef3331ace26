import { describe, expect, it, vi } from "vitest";
import { fireEvent, render, screen } from "@testing-library/react";
import { SeatMap, layoutSeats, type SeatState } from "./SeatMap";
import type { Schemas } from "../api/client";

function stadium(rows: number, perRow: number): Schemas["SeatMap"] {
  return {
    layout: { id: "l", name: "test", total_seats: rows * perRow },
    sections: [
      {
        name: "Floor1",
        grade: "Floor1",
        price: 80000,
        rows: Array.from({ length: rows }, (_, r) => ({
          label: String(r + 1),
          seats: Array.from({ length: perRow }, (_, n) => ({
            id: `s-${r + 1}-${n + 1}`,
            number: n + 1,
            label: `Floor1-${r + 1}-${n + 1}`,
            price: 80000,
          })),
        })),
      },
    ],
  };
}

describe("seat map", () => {
  it("draws every seat as a button named by its label and price", () => {
    render(<SeatMap map={stadium(3, 4)} states={new Map()} selected={new Set()} onToggle={() => {}} />);
    const seats = screen.getAllByRole("button", { name: /^Floor1-\d+-\d+, 80,000원/ });
    expect(seats).toHaveLength(12);
    expect(screen.getByRole("button", { name: "Floor1-1-2, 80,000원" })).toHaveAttribute("aria-pressed", "false");
    // One seat in the tab order; the others are reached with the arrow keys.
    expect(seats.filter((s) => s.getAttribute("tabindex") === "0")).toHaveLength(1);
  });

  it("says which seats are taken and marks the selected ones", () => {
    const states = new Map<string, SeatState>([["s-1-1", "sold"], ["s-1-2", "held"]]);
    render(<SeatMap map={stadium(1, 3)} states={states} selected={new Set(["s-1-3"])} onToggle={() => {}} />);
    expect(screen.getByRole("button", { name: /^Floor1-1-1, .*판매됨/ })).toHaveAttribute("aria-disabled", "true");
    expect(screen.getByRole("button", { name: /^Floor1-1-2, .*예약 중/ })).toHaveAttribute("aria-disabled", "true");
    expect(screen.getByRole("button", { name: /^Floor1-1-3,/ })).toHaveAttribute("aria-pressed", "true");
  });

  it("toggles by click, Enter and Space, and moves focus with the arrow keys", () => {
    const onToggle = vi.fn();
    render(<SeatMap map={stadium(2, 3)} states={new Map()} selected={new Set()} onToggle={onToggle} />);
    const first = screen.getByRole("button", { name: /^Floor1-1-1,/ });
    fireEvent.click(first);
    fireEvent.keyDown(first, { key: "Enter" });
    fireEvent.keyDown(first, { key: " " });
    expect(onToggle.mock.calls.map((c) => c[0])).toEqual(["s-1-1", "s-1-1", "s-1-1"]);
    first.focus();
    fireEvent.keyDown(first, { key: "ArrowRight" });
    expect(document.activeElement).toBe(screen.getByRole("button", { name: /^Floor1-1-2,/ }));
    fireEvent.keyDown(document.activeElement!, { key: "ArrowDown" });
    expect(document.activeElement).toBe(screen.getByRole("button", { name: /^Floor1-2-2,/ }));
    expect(document.activeElement).toHaveAttribute("tabindex", "0");
  });

  it("lays out a 4,900-seat stadium once, in layout order", () => {
    const map: Schemas["SeatMap"] = {
      layout: { id: "l", name: "stadium", total_seats: 4900 },
      sections: [
        { ...stadium(20, 50).sections[0] },
        { ...stadium(30, 60).sections[0], name: "Floor2" },
        { ...stadium(30, 70).sections[0], name: "Floor3" },
      ],
    };
    const layout = layoutSeats(map);
    expect(layout.seats).toHaveLength(4900);
    expect(layout.rows).toHaveLength(80);
    // Rows never overlap.
    const ys = new Set(layout.rows.map((r) => r[0].y));
    expect(ys.size).toBe(80);
  });
});
