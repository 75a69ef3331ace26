// A small bar chart drawn by ECharts, which loads only when a console shows a chart
// (it is large, and fans never need it).
import { useEffect, useRef } from "react";

export function BarChart({ labels, values, title }: { labels: string[]; values: number[]; title: string }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let disposed = false;
    let chart: { dispose(): void; setOption(o: unknown): void } | undefined;
    void import("./echarts-setup").then(({ default: echarts }) => {
      if (disposed || !el.current) return;
      chart = echarts.init(el.current, undefined, { renderer: "svg" });
      chart.setOption({
        aria: { enabled: true },
        tooltip: {},
        xAxis: { type: "category", data: labels },
        yAxis: { type: "value", minInterval: 1 },
        series: [{ type: "bar", data: values, itemStyle: { color: "#5b3df5" } }],
        grid: { left: 40, right: 10, top: 10, bottom: 30 },
      });
    });
    return () => {
      disposed = true;
      chart?.dispose();
    };
  }, [labels, values]);
  return <div ref={el} className="chart" role="img" aria-label={`${title}: ${labels.map((l, i) => `${l} ${values[i]}`).join(", ")}`} />;
}
