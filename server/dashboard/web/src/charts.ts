// ECharts, tree-shaken to the chart types the dashboard uses, plus a small wrapper that keeps one
// instance per container, updates it in place and exposes data-points / data-ready for tests.
import * as echarts from 'echarts/core';
import { BarChart, LineChart, LinesChart, ParallelChart, PieChart, ScatterChart } from 'echarts/charts';
import {
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  ParallelComponent,
  TitleComponent,
  TooltipComponent,
  VisualMapComponent,
} from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([
  BarChart,
  LineChart,
  LinesChart,
  ParallelChart,
  PieChart,
  ScatterChart,
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  ParallelComponent,
  TitleComponent,
  TooltipComponent,
  VisualMapComponent,
  CanvasRenderer,
]);

export type Option = echarts.EChartsCoreOption;

export const COLORS = {
  accent: '#3b6fd8',
  best: '#d9480f',
  point: '#5b8def',
  completed: '#2f9e44',
  pruned: '#f08c00',
  failed: '#e03131',
  running: '#1c7ed6',
  muted: '#adb5bd',
  pareto: '#c2255c',
};

export const PALETTE = ['#3b6fd8', '#2f9e44', '#f08c00', '#c2255c', '#7048e8', '#0c8599', '#e8590c', '#5c940d', '#862e9c', '#495057'];

const instances = new Set<Chart>();
let resizeTimer: number | undefined;
window.addEventListener('resize', () => {
  window.clearTimeout(resizeTimer);
  resizeTimer = window.setTimeout(() => instances.forEach((c) => c.resize()), 100);
});

/** One ECharts instance bound to a container element. */
export class Chart {
  private inst: echarts.ECharts | null = null;
  private observer: ResizeObserver | null = null;

  constructor(readonly container: HTMLElement) {
    instances.add(this);
  }

  /** Replaces the whole option (no merge) and records the main series' point count. */
  set(option: Option, points: number): void {
    if (!this.inst) {
      this.inst = echarts.init(this.container, undefined, { renderer: 'canvas' });
      if (typeof ResizeObserver !== 'undefined') {
        let last = this.container.clientWidth;
        this.observer = new ResizeObserver(() => {
          if (this.container.clientWidth !== last) {
            last = this.container.clientWidth;
            this.resize();
          }
        });
        this.observer.observe(this.container);
      }
    }
    this.inst.setOption({ animation: false, color: PALETTE, textStyle: { fontFamily: 'inherit' }, ...option }, {
      notMerge: true,
      lazyUpdate: false,
    });
    this.container.dataset.points = String(points);
    this.container.dataset.ready = '1';
  }

  resize(): void {
    this.inst?.resize();
  }

  dispose(): void {
    this.observer?.disconnect();
    this.inst?.dispose();
    this.inst = null;
    instances.delete(this);
  }
}

export function disposeAll(): void {
  [...instances].forEach((c) => c.dispose());
}

/** Common grid/tooltip bits. */
export const baseGrid = { left: 56, right: 20, top: 28, bottom: 40, containLabel: false };

export const axisCommon = {
  axisLine: { lineStyle: { color: '#adb5bd' } },
  splitLine: { lineStyle: { color: '#eef0f3' } },
  axisLabel: { color: '#495057', hideOverlap: true },
  nameTextStyle: { color: '#495057' },
};
