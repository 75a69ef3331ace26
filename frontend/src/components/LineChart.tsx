// Lines over time (one per series), drawn by ECharts from the same lazy chunk as the
// bar chart. The accessible name lists the latest value of every series, so the chart
// is not only pixels.
import { useEffect, useRef } from "react";

export interface Series {
  name: string;
  color: string;
  /** `[unix ms, value]`, oldest first. */
  points: [number, number][];
}

export function LineChart({ series, title }: { series: Series[]; title: string }) {
  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<{ dispose(): void; setOption(o: unknown): void } | null>(null);
  useEffect(() => {
    let disposed = false;
    void import("./echarts-setup").then(({ default: echarts }) => {
      if (disposed || !el.current) return;
      chart.current = echarts.init(el.current, undefined, { renderer: "svg" });
      draw();
    });
    return () => {
      disposed = true;
      chart.current?.dispose();
      chart.current = null;
    };
    // Drawn once here; updates below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  const draw = () =>
    chart.current?.setOption({
      // Our own accessible name (the latest values) stays on the element: ECharts'
      // generated description would replace it with every data point.
      aria: { enabled: false },
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      xAxis: { type: "time" },
      yAxis: { type: "value", minInterval: 1 },
      series: series.map((s) => ({
        name: s.name,
        type: "line",
        showSymbol: s.points.length < 30,
        data: s.points,
        itemStyle: { color: s.color },
      })),
      grid: { left: 50, right: 10, top: 30, bottom: 30 },
    });
  useEffect(draw);
  const latest = series.map((s) => `${s.name} ${s.points.at(-1)?.[1] ?? "-"}`).join(", ");
  return <div ref={el} className="chart" role="img" aria-label={`${title}: ${latest}`} />;
}
