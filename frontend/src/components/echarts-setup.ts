// ECharts' core with only what our charts need, in one lazily loaded chunk (the whole
// library is several times larger).
import * as echarts from "echarts/core";
import { BarChart } from "echarts/charts";
import { AriaComponent, GridComponent, TooltipComponent } from "echarts/components";
import { SVGRenderer } from "echarts/renderers";

echarts.use([BarChart, GridComponent, TooltipComponent, AriaComponent, SVGRenderer]);
export default echarts;
