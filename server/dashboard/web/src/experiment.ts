// One experiment (#/experiments/{id}): header, charts, observations table, workers.
import {
  api,
  Constraints,
  Curves,
  ExperimentDetail,
  Importance,
  Improvement,
  ObservationRow,
  ParameterInfo,
  Pareto,
  responseText,
  Sources,
  Worker,
} from './api';
import { axisCommon, baseGrid, Chart, COLORS, Option } from './charts';
import { el, escapeHtml, fmtAgo, fmtNum, fmtTime } from './format';
import { progressCell, stateBadge } from './list';
import { ObsTable } from './obstable';
import { setCrumbs, showError, View } from './view';

const LARGE = 2000;

interface Panel {
  section: HTMLElement;
  body: HTMLElement;
  error: HTMLElement;
  note: HTMLElement;
}

function makePanel(title: string, cls = '', testid?: string): Panel {
  const error = el('div', { class: 'panel-error', hidden: true });
  const note = el('span', { class: 'panel-note muted small' });
  const body = el('div', { class: 'panel-body' });
  const section = el(
    'section',
    { class: `panel ${cls}`, 'data-testid': testid },
    el('div', { class: 'panel-head' }, el('h2', {}, title), note),
    error,
    body,
  );
  return { section, body, error, note };
}

function setPanelError(p: Panel, err: unknown): void {
  if (err) {
    p.error.textContent = err instanceof Error ? err.message : String(err);
    p.error.hidden = false;
  } else {
    p.error.textContent = '';
    p.error.hidden = true;
  }
}

function chartDiv(testid: string, cls = 'chart'): HTMLElement {
  return el('div', { class: cls, 'data-testid': testid, 'data-points': 0 });
}

function emptyOption(text: string): Option {
  return {
    title: { text, left: 'center', top: 'middle', textStyle: { color: '#868e96', fontSize: 13, fontWeight: 'normal' } },
  };
}

function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function paramAxisType(p: ParameterInfo): 'category' | 'log' | 'value' {
  if (p.type === 'categorical') return 'category';
  if (p.log && isNum(p.min) && p.min > 0) return 'log';
  return 'value';
}

function categoriesOf(p: ParameterInfo, obs: ObservationRow[]): string[] {
  const cats = (p.categories ?? []).map(String);
  const seen = new Set(cats);
  for (const o of obs) {
    const v = o.assignment?.[p.name];
    if (v !== null && v !== undefined && !seen.has(String(v))) {
      seen.add(String(v));
      cats.push(String(v));
    }
  }
  return cats;
}

function paramValue(p: ParameterInfo, o: ObservationRow): number | string | null {
  const v = o.assignment?.[p.name];
  if (v === null || v === undefined) return null;
  if (p.type === 'categorical') return String(v);
  return typeof v === 'number' ? v : Number(v);
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

async function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

export class ExperimentView implements View {
  private header: HTMLElement;
  private grid: HTMLElement;
  private exp: ExperimentDetail | null = null;
  private observations: ObservationRow[] = [];
  private workers: Worker[] = [];

  private pImprovement = makePanel('Improvement', 'wide2');
  private pImportance = makePanel('Parameter importance');
  private pParallel = makePanel('Parallel coordinates', 'wide');
  private pSlices = makePanel('Slice plots', 'wide');
  private pCurves = makePanel('Learning curves', 'wide2');
  private pSources = makePanel('Suggestion sources');
  private pPareto: Panel | null = null;
  private pConstraints: Panel | null = null;
  private pObs = makePanel('Observations', 'wide');
  private pWorkers = makePanel('Workers', 'wide');

  private cImprovement = new Chart(chartDiv('chart-improvement'));
  private cImportance = new Chart(chartDiv('chart-importance'));
  private cParallel = new Chart(chartDiv('chart-parallel', 'chart tall'));
  private slicesBox = el('div', { class: 'slices', 'data-testid': 'chart-slices', 'data-points': 0 });
  private sliceCharts = new Map<string, Chart>();
  private sliceSig = '';
  private cCurves = new Chart(chartDiv('chart-curves', 'chart tall'));
  private cSources = new Chart(chartDiv('chart-sources'));
  private cPareto: Chart | null = null;
  private cConstraints: Chart | null = null;
  private constraintsSummary = el('div', { class: 'constraints-summary', 'data-testid': 'constraints-all' });
  private obsTable: ObsTable;
  private workersBody = el('tbody');
  private workersEmpty = el('div', { class: 'empty', hidden: true }, 'No workers are registered for this experiment.');
  private ticks = 0;
  private workersBusy = false;
  private disposed = false;
  private rendered = new Map<string, string>();

  constructor(
    root: HTMLElement,
    readonly id: string,
  ) {
    setCrumbs(el('a', { href: '#/' }, 'Experiments'), el('span', { class: 'sep' }, '/'), el('span', {}, `#${id}`));
    this.header = el('section', { class: 'panel wide exp-header', 'data-testid': 'exp-header' }, el('div', { class: 'muted' }, 'Loading…'));
    this.obsTable = new ObsTable(api.csvUrl(id));

    this.pImprovement.body.append(this.cImprovement.container);
    this.pImportance.body.append(this.cImportance.container);
    this.pParallel.body.append(this.cParallel.container);
    this.pSlices.body.append(this.slicesBox);
    this.pCurves.body.append(this.cCurves.container);
    this.pSources.body.append(this.cSources.container);
    this.pObs.body.append(this.obsTable.root);

    const wHead = el(
      'tr',
      {},
      ...['Worker', 'Name', 'Host', 'Threads', 'Live', 'Current trials', 'Last heartbeat'].map((h) => el('th', {}, h)),
    );
    this.pWorkers.body.append(
      el(
        'div',
        { class: 'table-wrap' },
        el('table', { class: 'table', 'data-testid': 'workers-table' }, el('thead', {}, wHead), this.workersBody),
      ),
      this.workersEmpty,
    );

    this.grid = el(
      'div',
      { class: 'grid' },
      this.header,
      this.pImprovement.section,
      this.pImportance.section,
      this.pParallel.section,
      this.pSlices.section,
      this.pCurves.section,
      this.pSources.section,
      this.pObs.section,
      this.pWorkers.section,
    );
    root.replaceChildren(this.grid);
  }

  async refresh(): Promise<void> {
    const id = this.id;
    const [exp, obs, imp, impt, curves, pareto, cons, src, workers] = await Promise.all([
      settle(api.experiment(id)),
      settle(api.observations(id)),
      settle(api.improvement(id)),
      settle(api.importance(id)),
      settle(api.curves(id, 200)),
      settle(api.pareto(id)),
      settle(api.constraints(id)),
      settle(api.sources(id)),
      settle(api.workers(id)),
    ]);
    if (this.disposed) return;
    if (!exp.ok) {
      // The experiment itself failed (e.g. NOT_FOUND): say so and keep whatever was shown before.
      if (!this.exp) {
        // Nothing to show: keep only the header, which says so (the page banner carries the message).
        const msg = exp.error instanceof Error ? exp.error.message : String(exp.error);
        this.header.replaceChildren(el('div', { class: 'muted', 'data-testid': 'exp-error' }, `Experiment ${this.id} could not be loaded: ${msg}`));
        this.grid.classList.add('not-loaded');
      }
      throw exp.error;
    }
    showError(null);
    this.grid.classList.remove('not-loaded');
    this.exp = exp.value.experiment;
    this.renderHeader();
    if (obs.ok) this.observations = obs.value.observations ?? [];
    // Observation-based panels depend on the observations and the experiment's space and metrics.
    const x = this.exp;
    const space = JSON.stringify([x.parameters, x.metrics, x.primary_metric, x.objective]);
    const obsKey = obs.ok ? `${space}\n${responseText(obs.value) ?? Math.random()}` : '';

    this.guard(this.pObs, obs, () => this.ifChanged('obs', obsKey, () => this.obsTable.setData(x, this.observations)));
    this.guard(this.pImprovement, imp, (v) => this.ifChanged('imp', v, () => this.renderImprovement(v)));
    this.guard(this.pImportance, impt, (v) => this.ifChanged('impt', v, () => this.renderImportance(v)));
    this.guard(this.pParallel, obs, () => this.ifChanged('parallel', obsKey, () => this.renderParallel()));
    this.guard(this.pSlices, obs, () => this.ifChanged('slices', obsKey, () => this.renderSlices()));
    this.guard(this.pCurves, curves, (v) => this.ifChanged('curves', v, () => this.renderCurves(v)));
    this.guard(this.pSources, src, (v) => this.ifChanged('sources', v, () => this.renderSources(v)));
    if (pareto.ok) this.ifChanged('pareto', pareto.value, () => this.renderPareto(pareto.value));
    if (cons.ok) this.ifChanged('constraints', cons.value, () => this.renderConstraints(cons.value));
    this.guard(this.pWorkers, workers, (v) => {
      this.workers = v.workers ?? [];
      this.renderWorkers();
    });
  }

  /** Runs `render` unless the data (a key string or a fetched body) is what was last rendered. */
  private ifChanged(name: string, data: string | object, render: () => void): void {
    const key = typeof data === 'string' ? data : responseText(data);
    if (key !== undefined && key !== '' && this.rendered.get(name) === key) return;
    this.rendered.delete(name);
    render();
    if (key !== undefined && key !== '') this.rendered.set(name, key);
  }

  private guard<T>(p: Panel, r: Settled<T>, fn: (v: T) => void): void {
    if (!r.ok) {
      setPanelError(p, r.error);
      return;
    }
    try {
      fn(r.value);
      setPanelError(p, null);
    } catch (e) {
      console.error(e);
      setPanelError(p, e);
    }
  }

  tick(): void {
    this.ticks++;
    this.renderWorkerTimes();
    // Heartbeats need not bump the revision: refresh the workers table every ~6 s anyway.
    if (this.ticks % 3 === 0 && !this.workersBusy) {
      this.workersBusy = true;
      api
        .workers(this.id)
        .then((w) => {
          if (this.disposed) return;
          this.workers = w.workers ?? [];
          this.renderWorkers();
          setPanelError(this.pWorkers, null);
        })
        .catch((e) => setPanelError(this.pWorkers, e))
        .finally(() => (this.workersBusy = false));
    }
  }

  dispose(): void {
    this.disposed = true;
    for (const c of [this.cImprovement, this.cImportance, this.cParallel, this.cCurves, this.cSources, this.cPareto, this.cConstraints])
      c?.dispose();
    this.sliceCharts.forEach((c) => c.dispose());
  }

  // ---- header ----
  private renderHeader(): void {
    const x = this.exp as ExperimentDetail;
    setCrumbs(
      el('a', { href: '#/' }, 'Experiments'),
      el('span', { class: 'sep' }, '/'),
      el('span', {}, x.name || `#${x.id}`),
    );
    document.title = `${x.name || '#' + x.id} · hpo`;
    const stat = (label: string, value: Node | string | number, testid?: string) =>
      el('div', { class: 'stat', 'data-testid': testid }, el('div', { class: 'stat-label' }, label), el('div', { class: 'stat-value' }, value));
    const primary = x.primary_metric
      ? `${x.primary_metric} (${x.objective})`
      : (x.metrics ?? []).map((m) => m.name).join(', ');
    const advice = typeof x.stopping_advice === 'string' ? x.stopping_advice : '';
    this.header.replaceChildren(
      el(
        'div',
        { class: 'exp-title' },
        el('h1', { 'data-testid': 'exp-name' }, x.name || `#${x.id}`),
        stateBadge(x.state),
        el('span', { class: 'muted' }, `#${x.id}`),
        x.project ? el('span', { class: 'muted' }, `project ${x.project}`) : null,
        el('span', { class: 'muted' }, `created ${fmtTime(x.created)}`),
      ),
      el(
        'div',
        { class: 'stats' },
        stat('Observations', progressCell(x.observations, x.budget), 'exp-progress'),
        stat('Best', x.best === null || x.best === undefined ? '—' : fmtNum(x.best), 'exp-best'),
        stat('Primary metric', primary || '—'),
        stat('Optimizer', x.optimizer || '—', 'exp-optimizer'),
        stat('Pruner', x.pruner || 'none', 'exp-pruner'),
        stat('Running', x.running ?? 0, 'exp-running'),
        stat('Open', x.open ?? 0),
        stat('Queued', x.queued ?? 0),
        stat('Failed', x.failed ?? 0, 'exp-failed'),
        stat('Pruned', x.pruned ?? 0, 'exp-pruned'),
        stat('Parallelism', x.parallel_bandwidth ?? 1),
      ),
    );
    if (advice) this.header.append(el('div', { class: 'advice', 'data-testid': 'exp-advice' }, advice));
  }

  // ---- improvement ----
  private renderImprovement(v: Improvement): void {
    const pts = v.points ?? [];
    this.pImprovement.note.textContent = v.metric ? `${v.metric} · ${v.objective}` : '';
    if (!pts.length) {
      this.cImprovement.set(emptyOption('No observations yet'), 0);
      return;
    }
    const large = pts.length > LARGE;
    this.cImprovement.set(
      {
        grid: { ...baseGrid, top: 34, right: 24, bottom: 48 },
        legend: { top: 0, right: 8, data: ['observation', 'best so far'] },
        tooltip: {
          trigger: 'item',
          formatter: (p: { seriesName: string; value: [number, number] }) =>
            `Trial ${p.value[0]}<br/>${escapeHtml(p.seriesName)}: <b>${fmtNum(p.value[1])}</b>`,
        },
        xAxis: { type: 'value', name: 'trial', nameLocation: 'middle', nameGap: 26, minInterval: 1, ...axisCommon },
        yAxis: { type: 'value', name: v.metric, scale: true, ...axisCommon, axisLabel: { ...axisCommon.axisLabel, formatter: fmtNum } },
        dataZoom: [{ type: 'inside', xAxisIndex: 0 }],
        series: [
          {
            name: 'observation',
            type: 'scatter',
            // Points that violate a constraint are grey: plotted, never the best.
            data: pts.map((p) =>
              p.feasible === false
                ? { value: [p.trial, p.value], itemStyle: { color: '#b0b0b0' } }
                : [p.trial, p.value],
            ),
            symbolSize: large ? 3 : 6,
            large,
            largeThreshold: LARGE,
            progressive: 5000,
            itemStyle: { color: COLORS.point, opacity: 0.6 },
          },
          {
            name: 'best so far',
            type: 'line',
            step: 'end',
            showSymbol: false,
            data: pts.map((p) => [p.trial, p.best ?? '-']),
            lineStyle: { color: COLORS.best, width: 2 },
            itemStyle: { color: COLORS.best },
            sampling: 'lttb',
            z: 3,
          },
        ],
      },
      pts.length,
    );
  }

  // ---- importance ----
  private renderImportance(v: Importance): void {
    const rows = (v.importance ?? []).slice().sort((a, b) => a.importance - b.importance);
    this.pImportance.note.textContent = v.metric ? `for ${v.metric}` : '';
    this.cImportance.container.style.height = `${Math.max(220, rows.length * 26 + 60)}px`;
    this.cImportance.resize();
    if (!rows.length) {
      this.cImportance.set(emptyOption('Not enough observations'), 0);
      return;
    }
    this.cImportance.set(
      {
        grid: { left: 8, right: 56, top: 10, bottom: 28, containLabel: true },
        tooltip: {
          trigger: 'item',
          formatter: (p: { name: string; value: number }) => `${escapeHtml(p.name)}: <b>${fmtNum(p.value)}</b>`,
        },
        xAxis: { type: 'value', min: 0, ...axisCommon, axisLabel: { ...axisCommon.axisLabel, formatter: fmtNum } },
        yAxis: { type: 'category', data: rows.map((r) => r.parameter), ...axisCommon, splitLine: { show: false } },
        series: [
          {
            type: 'bar',
            data: rows.map((r) => r.importance),
            itemStyle: { color: COLORS.accent, borderRadius: [0, 3, 3, 0] },
            barMaxWidth: 22,
            label: { show: true, position: 'right', formatter: (p: { value: number }) => fmtNum(p.value), color: '#495057' },
          },
        ],
      },
      rows.length,
    );
  }

  private primaryMetric(): string {
    const x = this.exp as ExperimentDetail;
    if (x.primary_metric) return x.primary_metric;
    const m = (x.metrics ?? []).find((mm) => mm.strategy === 'optimize') ?? (x.metrics ?? [])[0];
    return m ? m.name : '';
  }

  private primaryObjective(): string {
    const x = this.exp as ExperimentDetail;
    if (x.objective) return x.objective;
    return (x.metrics ?? []).find((m) => m.name === this.primaryMetric())?.objective ?? 'maximize';
  }

  /** Non-failed observations with a finite primary metric value. */
  private scoredObservations(): { o: ObservationRow; y: number }[] {
    const metric = this.primaryMetric();
    const out: { o: ObservationRow; y: number }[] = [];
    for (const o of this.observations) {
      if (o.failed) continue;
      const y = o.values?.[metric];
      if (isNum(y)) out.push({ o, y });
    }
    return out;
  }

  private metricRange(ys: number[]): [number, number] {
    let lo = Infinity;
    let hi = -Infinity;
    for (const y of ys) {
      if (y < lo) lo = y;
      if (y > hi) hi = y;
    }
    if (!Number.isFinite(lo)) return [0, 1];
    if (lo === hi) return [lo - 1e-9, hi + 1e-9];
    return [lo, hi];
  }

  /** Blue (bad) to warm (good) in the direction of the objective. */
  private gradient(): string[] {
    const c = ['#2c4a8a', '#3b6fd8', '#66c2a5', '#fdd835', '#f46d43'];
    return this.primaryObjective() === 'minimize' ? c.slice().reverse() : c;
  }

  // ---- parallel coordinates ----
  private renderParallel(): void {
    const x = this.exp as ExperimentDetail;
    const params = x.parameters ?? [];
    const metric = this.primaryMetric();
    const scored = this.scoredObservations();
    this.pParallel.note.textContent = metric ? `colored by ${metric}` : '';
    if (!scored.length || !metric) {
      this.cParallel.set(emptyOption('No completed observations yet'), 0);
      return;
    }
    const axes: Record<string, unknown>[] = params.map((p, i) => {
      const t = paramAxisType(p);
      const a: Record<string, unknown> = { dim: i, name: p.name, type: t };
      if (t === 'category') a.data = categoriesOf(p, this.observations);
      else {
        if (isNum(p.min) && isNum(p.max) && p.max > p.min) {
          a.min = p.min;
          a.max = p.max;
        } else a.scale = true;
        a.axisLabel = { formatter: fmtNum };
      }
      return a;
    });
    const [lo, hi] = this.metricRange(scored.map((s) => s.y));
    axes.push({
      dim: params.length,
      name: metric,
      type: 'value',
      scale: true,
      nameTextStyle: { fontWeight: 'bold', color: '#212529' },
      axisLabel: { formatter: fmtNum },
    });
    const data = scored.map(({ o, y }) => ({
      value: [...params.map((p) => paramValue(p, o)), y],
      name: `Trial ${o.trial}`,
    }));
    this.cParallel.set(
      {
        parallel: {
          left: 48,
          right: 120,
          top: 44,
          bottom: 28,
          parallelAxisDefault: {
            nameLocation: 'end',
            nameGap: 14,
            nameTextStyle: { color: '#343a40', fontSize: 12 },
            axisLine: { lineStyle: { color: '#868e96' } },
            axisLabel: { color: '#495057', hideOverlap: true },
            realtime: false,
          },
        },
        parallelAxis: axes,
        visualMap: {
          type: 'continuous',
          dimension: params.length,
          min: lo,
          max: hi,
          right: 8,
          top: 'middle',
          itemHeight: 140,
          calculable: true,
          precision: 4,
          showLabel: true,
          inRange: { color: this.gradient() },
          formatter: (v: number) => fmtNum(v),
        },
        tooltip: { trigger: 'item', formatter: (p: { name: string }) => escapeHtml(p.name) },
        series: [
          {
            type: 'parallel',
            data,
            lineStyle: { width: 1, opacity: data.length > 1000 ? 0.25 : 0.5 },
            emphasis: { lineStyle: { width: 2, opacity: 1 } },
            progressive: 500,
            progressiveThreshold: 1000,
            smooth: false,
          },
        ],
      },
      data.length,
    );
  }

  // ---- slices ----
  private renderSlices(): void {
    const x = this.exp as ExperimentDetail;
    const params = x.parameters ?? [];
    const metric = this.primaryMetric();
    const sig = params.map((p) => `${p.name}:${p.type}`).join('|');
    if (sig !== this.sliceSig) {
      this.sliceSig = sig;
      this.sliceCharts.forEach((c) => c.dispose());
      this.sliceCharts.clear();
      this.slicesBox.replaceChildren();
      for (const p of params) {
        const c = new Chart(chartDiv(`chart-slice-${p.name}`, 'chart small'));
        this.sliceCharts.set(p.name, c);
        this.slicesBox.append(c.container);
      }
      if (!params.length) this.slicesBox.append(el('div', { class: 'empty' }, 'No parameters.'));
    }
    const scored = this.scoredObservations();
    const [tlo, thi] = scored.length
      ? [scored[0].o.trial, Math.max(scored[scored.length - 1].o.trial, scored[0].o.trial + 1)]
      : [0, 1];
    const large = scored.length > LARGE;
    let total = 0;
    for (const p of params) {
      const c = this.sliceCharts.get(p.name);
      if (!c) continue;
      const t = paramAxisType(p);
      const data: [number | string, number, number][] = [];
      for (const { o, y } of scored) {
        const v = paramValue(p, o);
        if (v === null || (typeof v === 'number' && !Number.isFinite(v))) continue;
        if (t === 'log' && typeof v === 'number' && v <= 0) continue;
        data.push([v, y, o.trial]);
      }
      total += data.length;
      const xAxis: Record<string, unknown> = {
        type: t,
        name: p.name,
        nameLocation: 'middle',
        nameGap: 24,
        ...axisCommon,
      };
      if (t === 'category') xAxis.data = categoriesOf(p, this.observations);
      else {
        xAxis.scale = true;
        xAxis.axisLabel = { ...axisCommon.axisLabel, formatter: fmtNum };
      }
      c.set(
        {
          title: { text: p.name, left: 'center', top: 2, textStyle: { fontSize: 12, fontWeight: 600, color: '#343a40' } },
          grid: { left: 50, right: 12, top: 28, bottom: 40 },
          tooltip: {
            trigger: 'item',
            formatter: (q: { value: [number | string, number, number] }) =>
              `Trial ${q.value[2]}<br/>${escapeHtml(p.name)}: ${escapeHtml(fmtNum(q.value[0]))}<br/>${escapeHtml(metric)}: <b>${fmtNum(q.value[1])}</b>`,
          },
          xAxis,
          yAxis: { type: 'value', scale: true, ...axisCommon, axisLabel: { ...axisCommon.axisLabel, formatter: fmtNum } },
          visualMap: {
            show: false,
            type: 'continuous',
            dimension: 2,
            min: tlo,
            max: thi,
            inRange: { color: ['#c5d5f5', '#1d3f8f'] },
          },
          series: [
            {
              type: 'scatter',
              data,
              symbolSize: large ? 3 : 5,
              large,
              largeThreshold: LARGE,
              progressive: 5000,
              itemStyle: { opacity: 0.75 },
            },
          ],
        },
        data.length,
      );
    }
    this.pSlices.note.textContent = metric ? `${metric} against each parameter (darker = later trial)` : '';
    this.slicesBox.dataset.points = String(total);
    this.slicesBox.dataset.ready = '1';
  }

  // ---- learning curves ----
  private renderCurves(v: Curves): void {
    const curves = v.curves ?? [];
    this.pCurves.note.textContent = v.metric ? `${v.metric} by step` : '';
    if (!curves.length) {
      this.cCurves.set(emptyOption('No learning curves reported'), 0);
      return;
    }
    const statusColor: Record<string, string> = {
      completed: COLORS.completed,
      pruned: COLORS.pruned,
      failed: COLORS.failed,
      running: COLORS.running,
    };
    const order = ['completed', 'pruned', 'failed', 'running'];
    for (const c of curves) {
      if (!order.includes(c.status)) {
        order.push(c.status);
        statusColor[c.status] = COLORS.muted;
      }
    }
    const byStatus = new Map<string, Record<string, unknown>[]>();
    let xlo = Infinity;
    let xhi = -Infinity;
    let ylo = Infinity;
    let yhi = -Infinity;
    for (const c of curves) {
      const pts = (c.points ?? []).filter((p) => isNum(p[0]) && isNum(p[1]));
      for (const [s, y] of pts) {
        if (s < xlo) xlo = s;
        if (s > xhi) xhi = s;
        if (y < ylo) ylo = y;
        if (y > yhi) yhi = y;
      }
      // A one-point curve still needs two coordinates to draw (and to hover).
      const coords = pts.length === 1 ? [pts[0], pts[0]] : pts;
      const status = c.status;
      if (!byStatus.has(status)) byStatus.set(status, []);
      byStatus.get(status)!.push({
        coords,
        suggestion_id: c.suggestion_id,
        trial: c.trial,
        status: c.status,
        stop_reason: c.stop_reason,
        stop_step: c.stop_step,
        points: pts.length,
      });
    }
    if (!Number.isFinite(xlo)) {
      xlo = 0;
      xhi = 1;
      ylo = 0;
      yhi = 1;
    }
    if (xhi === xlo) xhi = xlo + 1;
    const present = order.filter((s) => byStatus.has(s));
    const total = curves.length;
    const many = total > 300;
    const series: Record<string, unknown>[] = present.map((s) => ({
      name: s,
      type: 'lines',
      coordinateSystem: 'cartesian2d',
      polyline: true,
      data: byStatus.get(s),
      large: total > LARGE,
      largeThreshold: LARGE,
      progressive: 400,
      lineStyle: { color: statusColor[s], width: many ? 1 : 1.5, opacity: many ? 0.35 : 0.7 },
      itemStyle: { color: statusColor[s] },
      emphasis: { focus: 'self', lineStyle: { width: 3, opacity: 1 } },
      z: s === 'running' ? 4 : s === 'completed' ? 3 : 2,
    }));
    // `lines` data does not widen the axes: an invisible two-point scatter gives them the extent.
    series.push({
      type: 'scatter',
      data: [
        [xlo, ylo],
        [xhi, yhi],
      ],
      symbolSize: 0,
      silent: true,
      tooltip: { show: false },
      z: 0,
    });
    this.cCurves.set(
      {
        grid: { ...baseGrid, top: 36, bottom: 48, right: 24 },
        legend: { top: 0, right: 8, data: present.map((s) => ({ name: s, icon: 'roundRect' })) },
        tooltip: {
          trigger: 'item',
          confine: true,
          extraCssText: 'max-width: 380px; white-space: normal; overflow-wrap: anywhere;',
          formatter: (p: { data: Record<string, unknown> }) => {
            const d = p.data;
            const who = d.trial ? `Trial ${d.trial}` : 'Trial (running)';
            const lines = [
              `<b>${escapeHtml(who)}</b>`,
              `suggestion ${escapeHtml(d.suggestion_id)}`,
              `status: <b style="color:${statusColor[String(d.status)] ?? '#333'}">${escapeHtml(d.status)}</b>`,
            ];
            if (d.stop_reason) lines.push(`stop reason: ${escapeHtml(d.stop_reason)}`);
            if (d.stop_step) lines.push(`stopped at step ${escapeHtml(d.stop_step)}`);
            return lines.join('<br/>');
          },
        },
        xAxis: { type: 'value', name: 'step', nameLocation: 'middle', nameGap: 26, scale: true, ...axisCommon },
        yAxis: {
          type: 'value',
          name: v.metric,
          scale: true,
          ...axisCommon,
          axisLabel: { ...axisCommon.axisLabel, formatter: fmtNum },
        },
        series,
      },
      total,
    );
    this.cCurves.container.dataset.statuses = present.map((s) => `${s}:${byStatus.get(s)!.length}`).join(',');
  }

  // ---- sources ----
  private renderSources(v: Sources): void {
    const rows = (v.sources ?? []).filter((s) => s.count > 0);
    if (!rows.length) {
      this.cSources.set(emptyOption('No suggestions yet'), 0);
      return;
    }
    const total = rows.reduce((a, s) => a + s.count, 0);
    const counts = new Map(rows.map((s) => [s.source || '(unknown)', s.count]));
    this.pSources.note.textContent = `${total} suggestions`;
    this.cSources.set(
      {
        tooltip: {
          trigger: 'item',
          formatter: (p: { name: string; value: number; percent: number }) =>
            `${escapeHtml(p.name)}: <b>${p.value}</b> (${fmtNum(p.percent)}%)`,
        },
        legend: {
          type: 'scroll',
          orient: 'vertical',
          right: 4,
          top: 'middle',
          formatter: (name: string) => `${name}  ${counts.get(name) ?? ''}`,
        },
        series: [
          {
            type: 'pie',
            radius: ['42%', '72%'],
            center: ['34%', '50%'],
            itemStyle: { borderColor: '#fff', borderWidth: 2 },
            label: { show: false },
            emphasis: { label: { show: true, formatter: '{b}\n{d}%', fontWeight: 600 } },
            data: rows.map((s) => ({ name: s.source || '(unknown)', value: s.count })),
          },
        ],
      },
      rows.length,
    );
  }

  // ---- Pareto ----
  private renderPareto(v: Pareto): void {
    const pts = v.points ?? [];
    if (!pts.length) {
      if (this.pPareto) {
        this.cPareto?.dispose();
        this.cPareto = null;
        this.pPareto.section.remove();
        this.pPareto = null;
      }
      return;
    }
    if (!this.pPareto) {
      this.pPareto = makePanel('Pareto frontier');
      this.cPareto = new Chart(chartDiv('chart-pareto'));
      this.pPareto.body.append(this.cPareto.container);
      this.grid.insertBefore(this.pPareto.section, this.pObs.section);
    }
    const [mx, my] = v.metrics ?? ['x', 'y'];
    const [ox, oy] = v.objectives ?? ['', ''];
    this.pPareto.note.textContent = `${mx} (${ox}) vs ${my} (${oy})`;
    const front = pts.filter((p) => p.pareto).sort((a, b) => a.x - b.x || a.y - b.y);
    const rest = pts.filter((p) => !p.pareto);
    const large = rest.length > LARGE;
    const item = (p: Pareto['points'][number]) => ({ value: [p.x, p.y, p.trial, String(p.observation_id)] });
    const tip = (p: { seriesName: string; value: [number, number, number, string] }) =>
      `Trial ${p.value[2]}${p.seriesName === 'Pareto front' ? ' <b>(Pareto)</b>' : ''}<br/>${escapeHtml(mx)}: ${fmtNum(p.value[0])}<br/>${escapeHtml(my)}: ${fmtNum(p.value[1])}`;
    (this.cPareto as Chart).set(
      {
        grid: { ...baseGrid, top: 34, bottom: 48, left: 60 },
        legend: { top: 0, right: 8, data: ['observations', 'Pareto front'] },
        tooltip: { trigger: 'item', formatter: tip },
        xAxis: { type: 'value', name: mx, nameLocation: 'middle', nameGap: 26, scale: true, ...axisCommon, axisLabel: { ...axisCommon.axisLabel, formatter: fmtNum } },
        yAxis: { type: 'value', name: my, scale: true, ...axisCommon, axisLabel: { ...axisCommon.axisLabel, formatter: fmtNum } },
        series: [
          {
            name: 'observations',
            type: 'scatter',
            data: large ? rest.map((p) => [p.x, p.y, p.trial, String(p.observation_id)]) : rest.map(item),
            symbolSize: large ? 3 : 6,
            large,
            largeThreshold: LARGE,
            itemStyle: { color: COLORS.muted, opacity: 0.7 },
          },
          {
            name: 'Pareto front',
            type: 'line',
            data: front.map(item),
            symbol: 'circle',
            symbolSize: 8,
            lineStyle: { color: COLORS.pareto, width: 2 },
            itemStyle: { color: COLORS.pareto },
            z: 3,
          },
        ],
      },
      pts.length,
    );
    (this.cPareto as Chart).container.dataset.pareto = String(front.length);
  }

  // ---- constraints ----
  private renderConstraints(v: Constraints): void {
    const rows = v.constraints ?? [];
    if (!rows.length) {
      if (this.pConstraints) {
        this.cConstraints?.dispose();
        this.cConstraints = null;
        this.pConstraints.section.remove();
        this.pConstraints = null;
      }
      return;
    }
    if (!this.pConstraints) {
      this.pConstraints = makePanel('Constraint satisfaction');
      this.cConstraints = new Chart(chartDiv('chart-constraints'));
      this.pConstraints.body.append(this.constraintsSummary, this.cConstraints.container);
      this.grid.insertBefore(this.pConstraints.section, this.pObs.section);
    }
    const observed = v.observed ?? 0;
    const all = v.all_satisfied ?? 0;
    const pct = observed > 0 ? (100 * all) / observed : 0;
    this.constraintsSummary.replaceChildren(
      el('b', {}, `${fmtNum(pct)}%`),
      ` of observations satisfy all constraints (${all} / ${observed})`,
    );
    this.constraintsSummary.dataset.allSatisfied = String(all);
    this.constraintsSummary.dataset.observed = String(observed);
    const label = (c: Constraints['constraints'][number]) =>
      `${c.metric} ${c.objective === 'minimize' ? '≤' : '≥'} ${fmtNum(c.threshold)}`;
    const c = this.cConstraints as Chart;
    c.container.style.height = `${Math.max(180, rows.length * 34 + 70)}px`;
    c.resize();
    c.set(
      {
        grid: { left: 8, right: 24, top: 30, bottom: 24, containLabel: true },
        legend: { top: 0, right: 8, data: ['satisfied', 'violated'] },
        tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
        xAxis: { type: 'value', minInterval: 1, ...axisCommon },
        yAxis: { type: 'category', data: rows.map(label), ...axisCommon, splitLine: { show: false } },
        series: [
          {
            name: 'satisfied',
            type: 'bar',
            stack: 'n',
            data: rows.map((r) => r.satisfied),
            itemStyle: { color: COLORS.completed },
            barMaxWidth: 24,
          },
          {
            name: 'violated',
            type: 'bar',
            stack: 'n',
            data: rows.map((r) => r.violated),
            itemStyle: { color: COLORS.failed },
            barMaxWidth: 24,
          },
        ],
      },
      rows.length,
    );
  }

  // ---- workers ----
  private renderWorkers(): void {
    const frag = document.createDocumentFragment();
    const mine = String(this.id);
    for (const w of this.workers) {
      const trials = (w.trials ?? []).filter((t) => String(t.experiment_id) === mine);
      const other = (w.trials ?? []).length - trials.length;
      const trialText = trials.map((t) => `suggestion ${t.suggestion_id}`).join(', ');
      frag.append(
        el(
          'tr',
          { 'data-testid': 'worker-row', 'data-worker': w.worker_id, class: w.live ? 'worker-live' : 'worker-dead' },
          el('td', { class: 'mono' }, w.worker_id),
          el('td', {}, w.name),
          el('td', {}, w.host),
          el('td', { class: 'num' }, w.threads ?? ''),
          el(
            'td',
            { 'data-testid': 'worker-live' },
            el('span', { class: `badge ${w.live ? 'live-yes' : 'live-no'}` }, w.live ? 'live' : 'lost'),
          ),
          el(
            'td',
            { 'data-testid': 'worker-trials' },
            trialText || (other ? '' : el('span', { class: 'muted' }, 'idle')),
            other ? el('span', { class: 'muted small' }, `${trialText ? ' ' : ''}(+${other} in other experiments)`) : null,
          ),
          el(
            'td',
            { 'data-heartbeat': w.last_heartbeat, title: fmtTime(w.last_heartbeat) },
            el('span', { class: 'ago' }, fmtAgo(w.last_heartbeat)),
            el('span', { class: 'muted small' }, ` (${fmtTime(w.last_heartbeat)})`),
          ),
        ),
      );
    }
    this.workersBody.replaceChildren(frag);
    this.workersEmpty.hidden = this.workers.length > 0;
    this.pWorkers.note.textContent = `${this.workers.filter((w) => w.live).length} live of ${this.workers.length}`;
  }

  private renderWorkerTimes(): void {
    const now = Date.now();
    for (const td of Array.from(this.workersBody.querySelectorAll<HTMLElement>('td[data-heartbeat]'))) {
      const ago = td.querySelector('.ago');
      if (ago) ago.textContent = fmtAgo(td.dataset.heartbeat, now);
    }
  }
}
