// Observations table: sortable by any column, text filter, one page (50 rows) rendered at a time.
import { ExperimentDetail, ObservationRow } from './api';
import { el, fmtTime, fmtValue } from './format';

export const PAGE_SIZE = 50;

interface Column {
  key: string; // data-testid suffix: trial, state, metric name, parameter name, source
  label: string;
  kind: 'trial' | 'state' | 'metric' | 'param' | 'source' | 'created';
  numeric: boolean;
  get: (o: ObservationRow) => unknown;
}

interface Row {
  obs: ObservationRow;
  keys: unknown[];
  text: string;
  cells: string[];
}

export function obsState(o: ObservationRow): string {
  return o.failed ? 'failed' : o.pruned ? 'pruned' : 'completed';
}

export class ObsTable {
  readonly root: HTMLElement;
  private columns: Column[] = [];
  private columnSig = '';
  private rows: Row[] = [];
  private view: Row[] = [];
  private sortKey = 'trial';
  private sortDir: 1 | -1 = 1;
  private filter = '';
  private page = 0;
  private thead: HTMLTableSectionElement;
  private tbody: HTMLTableSectionElement;
  private count: HTMLElement;
  private filteredNote: HTMLElement;
  private pageLabel: HTMLElement;
  private prevBtn: HTMLButtonElement;
  private nextBtn: HTMLButtonElement;
  private firstBtn: HTMLButtonElement;
  private lastBtn: HTMLButtonElement;
  readonly filterInput: HTMLInputElement;

  constructor(csvUrl: string) {
    this.filterInput = el('input', {
      type: 'search',
      placeholder: 'Filter rows…',
      'data-testid': 'obs-filter',
      'aria-label': 'Filter observations',
    });
    this.filterInput.addEventListener('input', () => {
      this.filter = this.filterInput.value.trim().toLowerCase();
      this.page = 0;
      this.recompute();
    });
    this.thead = el('thead');
    this.tbody = el('tbody');
    this.count = el('span', { 'data-testid': 'obs-count', class: 'obs-count' });
    this.filteredNote = el('span', { class: 'muted small' });
    this.pageLabel = el('span', { 'data-testid': 'obs-page', class: 'page-label' });
    const btn = (label: string, testid: string, title: string, fn: () => void) => {
      const b = el('button', { type: 'button', 'data-testid': testid, title, class: 'btn' }, label);
      b.addEventListener('click', fn);
      return b;
    };
    this.firstBtn = btn('«', 'obs-first', 'First page', () => this.goto(0));
    this.prevBtn = btn('‹ Prev', 'obs-prev', 'Previous page', () => this.goto(this.page - 1));
    this.nextBtn = btn('Next ›', 'obs-next', 'Next page', () => this.goto(this.page + 1));
    this.lastBtn = btn('»', 'obs-last', 'Last page', () => this.goto(Number.MAX_SAFE_INTEGER));
    const csv = el('a', { href: csvUrl, 'data-testid': 'csv-link', class: 'btn', download: '' }, 'Download CSV');
    this.root = el(
      'div',
      { class: 'obs' },
      el('div', { class: 'obs-tools' }, this.filterInput, csv),
      el(
        'div',
        { class: 'table-wrap obs-wrap' },
        el('table', { class: 'table obs-table', 'data-testid': 'obs-table' }, this.thead, this.tbody),
      ),
      el(
        'div',
        { class: 'pager' },
        el('span', {}, this.count, ' ', this.filteredNote),
        el('span', { class: 'pager-btns' }, this.firstBtn, this.prevBtn, this.pageLabel, this.nextBtn, this.lastBtn),
      ),
    );
  }

  /** New data (same experiment): keeps sort, filter and page. */
  setData(exp: ExperimentDetail, observations: ObservationRow[]): void {
    this.setColumns(exp);
    this.rows = observations.map((o) => {
      const keys = this.columns.map((c) => c.get(o));
      const cells = this.columns.map((c, j) =>
        c.kind === 'created' ? fmtTime(String(keys[j] ?? '')) : fmtValue(keys[j]),
      );
      const extra = [o.failure_reason, o.stop_reason, String(o.suggestion_id ?? '')].filter(Boolean);
      const text = cells.concat(extra).join('\u0001').toLowerCase();
      return { obs: o, keys, cells, text };
    });
    this.recompute();
  }

  private setColumns(exp: ExperimentDetail): void {
    const cols: Column[] = [
      { key: 'trial', label: 'Trial', kind: 'trial', numeric: true, get: (o) => o.trial },
      { key: 'state', label: 'State', kind: 'state', numeric: false, get: obsState },
    ];
    for (const m of exp.metrics ?? []) {
      cols.push({
        key: m.name,
        label: m.name,
        kind: 'metric',
        numeric: true,
        get: (o) => (o.values ? o.values[m.name] : undefined),
      });
    }
    for (const p of exp.parameters ?? []) {
      cols.push({
        key: p.name,
        label: p.name,
        kind: 'param',
        numeric: p.type !== 'categorical',
        get: (o) => (o.assignment ? o.assignment[p.name] : undefined),
      });
    }
    cols.push({ key: 'source', label: 'Source', kind: 'source', numeric: false, get: (o) => o.source });
    cols.push({ key: 'created', label: 'Created', kind: 'created', numeric: false, get: (o) => o.created });
    const sig = cols.map((c) => `${c.kind}:${c.key}`).join('|');
    this.columns = cols;
    if (sig !== this.columnSig) {
      this.columnSig = sig;
      if (!cols.some((c) => c.key === this.sortKey)) {
        this.sortKey = 'trial';
        this.sortDir = 1;
      }
      this.renderHead();
    }
  }

  private renderHead(): void {
    const tr = el('tr');
    const metricNames = new Set(this.columns.filter((c) => c.kind === 'metric').map((c) => c.key));
    for (const c of this.columns) {
      const th = el(
        'th',
        {
          'data-testid': `obs-th-${c.key}`,
          'data-column': c.key,
          class: `sortable col-${c.kind}${c.numeric ? ' num' : ''}`,
          title: `Sort by ${c.label}`,
          tabindex: 0,
        },
        el('span', { class: 'th-label' }, c.label),
        c.kind === 'param' && metricNames.has(c.key) ? el('span', { class: 'muted small' }, ' (param)') : null,
        el('span', { class: 'sort-ind' }),
      );
      const activate = () => this.sortBy(c.key);
      th.addEventListener('click', activate);
      th.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          activate();
        }
      });
      tr.append(th);
    }
    this.thead.replaceChildren(tr);
    this.updateSortIndicators();
  }

  private updateSortIndicators(): void {
    for (const th of Array.from(this.thead.querySelectorAll<HTMLElement>('th'))) {
      const active = th.dataset.column === this.sortKey;
      if (active) th.setAttribute('aria-sort', this.sortDir === 1 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
      th.classList.toggle('sorted', active);
      const ind = th.querySelector('.sort-ind');
      if (ind) ind.textContent = active ? (this.sortDir === 1 ? ' ▲' : ' ▼') : '';
    }
  }

  sortBy(key: string): void {
    if (this.sortKey === key) this.sortDir = this.sortDir === 1 ? -1 : 1;
    else {
      this.sortKey = key;
      this.sortDir = 1;
    }
    this.page = 0;
    this.updateSortIndicators();
    this.recompute();
  }

  private goto(page: number): void {
    const pages = Math.max(1, Math.ceil(this.view.length / PAGE_SIZE));
    this.page = Math.max(0, Math.min(pages - 1, page));
    this.renderBody();
  }

  private recompute(): void {
    const f = this.filter;
    const rows = f ? this.rows.filter((r) => r.text.includes(f)) : this.rows.slice();
    const idx = this.columns.findIndex((c) => c.key === this.sortKey);
    if (idx >= 0) {
      const numeric = this.columns[idx].numeric;
      const dir = this.sortDir;
      const trialIdx = 0;
      rows.sort((a, b) => {
        const c = compare(a.keys[idx], b.keys[idx], numeric);
        if (c.missing) return c.value; // missing values always last
        if (c.value !== 0) return c.value * dir;
        return compare(a.keys[trialIdx], b.keys[trialIdx], true).value;
      });
    }
    this.view = rows;
    this.goto(this.page);
  }

  private renderBody(): void {
    const total = this.view.length;
    const start = this.page * PAGE_SIZE;
    const end = Math.min(total, start + PAGE_SIZE);
    const frag = document.createDocumentFragment();
    for (let i = start; i < end; i++) {
      const r = this.view[i];
      const state = obsState(r.obs);
      const tr = el('tr', { 'data-testid': 'obs-row', 'data-trial': r.obs.trial, class: `row-${state}` });
      this.columns.forEach((c, j) => {
        const td = el('td', { class: c.numeric ? 'num' : undefined });
        if (c.kind === 'state') {
          td.append(el('span', { class: `badge obs-${state}` }, state));
          const why = r.obs.failed ? r.obs.failure_reason : r.obs.pruned ? r.obs.stop_reason : '';
          if (why) td.title = why;
        } else {
          td.textContent = r.cells[j];
          if (c.kind === 'created') td.title = String(r.keys[j] ?? '');
        }
        tr.append(td);
      });
      frag.append(tr);
    }
    this.tbody.replaceChildren(frag);
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    this.count.textContent = total === 0 ? 'Showing 0 of 0' : `Showing ${start + 1}-${end} of ${total}`;
    this.filteredNote.textContent = this.filter ? `(filtered from ${this.rows.length})` : '';
    this.pageLabel.textContent = `Page ${this.page + 1} of ${pages}`;
    this.prevBtn.disabled = this.firstBtn.disabled = this.page <= 0;
    this.nextBtn.disabled = this.lastBtn.disabled = this.page >= pages - 1;
  }
}

function isMissing(v: unknown): boolean {
  return v === null || v === undefined || v === '' || (typeof v === 'number' && Number.isNaN(v));
}

function compare(a: unknown, b: unknown, numeric: boolean): { value: number; missing: boolean } {
  const ma = isMissing(a);
  const mb = isMissing(b);
  if (ma || mb) return { value: ma === mb ? 0 : ma ? 1 : -1, missing: ma !== mb };
  if (numeric && typeof a === 'number' && typeof b === 'number') return { value: a - b, missing: false };
  if (typeof a === 'number' && typeof b === 'number') return { value: a - b, missing: false };
  return {
    value: String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: 'base' }),
    missing: false,
  };
}
