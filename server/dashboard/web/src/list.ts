// Experiments list (#/).
import { api, ExperimentRow } from './api';
import { el, fmtAgo, fmtNum, fmtTime } from './format';
import { setCrumbs, View } from './view';

export function stateBadge(state: string): HTMLElement {
  return el('span', { class: `badge state-${state}` }, state);
}

export function progressCell(count: number, budget: number): HTMLElement {
  if (!budget || budget <= 0) return el('span', { class: 'progress-text' }, String(count));
  const pct = Math.max(0, Math.min(100, (100 * count) / budget));
  const bar = el('span', { class: 'bar' });
  bar.append(el('span', { class: 'bar-fill', style: `width:${pct.toFixed(1)}%` }));
  return el('span', { class: 'progress' }, el('span', { class: 'progress-text' }, `${count} / ${budget}`), bar);
}

export class ListView implements View {
  private tbody: HTMLTableSectionElement;
  private empty: HTMLElement;
  private stateSel: HTMLSelectElement;
  private projectInput: HTMLInputElement;
  private rows: ExperimentRow[] = [];

  constructor(root: HTMLElement) {
    setCrumbs(el('span', {}, 'Experiments'));
    document.title = 'hpo dashboard';
    this.stateSel = el('select', { 'data-testid': 'experiments-state', 'aria-label': 'State' });
    for (const [v, label] of [
      ['', 'All (not archived)'],
      ['active', 'Active'],
      ['paused', 'Paused'],
      ['completed', 'Completed'],
      ['archived', 'Archived'],
    ]) {
      this.stateSel.append(el('option', { value: v }, label));
    }
    this.projectInput = el('input', {
      type: 'search',
      placeholder: 'Project',
      'data-testid': 'experiments-project',
      'aria-label': 'Project',
    });
    let t: number | undefined;
    this.projectInput.addEventListener('input', () => {
      window.clearTimeout(t);
      t = window.setTimeout(() => void this.refresh(), 250);
    });
    this.stateSel.addEventListener('change', () => void this.refresh());

    const head = el(
      'tr',
      {},
      ...['Name', 'Project', 'State', 'Progress', 'Best', 'Running', 'Created'].map((h) =>
        el('th', { class: h === 'Best' || h === 'Running' ? 'num' : undefined }, h),
      ),
    );
    this.tbody = el('tbody');
    const table = el('table', { class: 'table', 'data-testid': 'experiments-table' }, el('thead', {}, head), this.tbody);
    this.empty = el('div', { class: 'empty', hidden: true }, 'No experiments.');
    root.replaceChildren(
      el(
        'section',
        { class: 'panel wide' },
        el(
          'div',
          { class: 'panel-head' },
          el('h2', {}, 'Experiments'),
          el('div', { class: 'tools' }, this.projectInput, this.stateSel),
        ),
        el('div', { class: 'table-wrap' }, table),
        this.empty,
      ),
    );
  }

  async refresh(): Promise<void> {
    const r = await api.experiments(this.projectInput.value.trim(), this.stateSel.value);
    this.rows = r.experiments ?? [];
    this.render();
  }

  private render(): void {
    const frag = document.createDocumentFragment();
    for (const x of this.rows) {
      const id = String(x.id);
      const best =
        x.best === null || x.best === undefined
          ? el('span', { class: 'muted' }, '—')
          : el('span', { title: `${x.objective} ${x.primary_metric}` }, fmtNum(x.best));
      const tr = el(
        'tr',
        { 'data-testid': 'experiment-row', 'data-id': id },
        el('td', {}, el('a', { href: `#/experiments/${encodeURIComponent(id)}` }, x.name || `#${id}`)),
        el('td', {}, x.project),
        el('td', { 'data-testid': 'experiment-state' }, stateBadge(x.state)),
        el('td', { 'data-testid': 'experiment-progress' }, progressCell(x.observations, x.budget)),
        el(
          'td',
          { class: 'num', 'data-testid': 'experiment-best' },
          best,
          x.primary_metric && x.best !== null && x.best !== undefined
            ? el('span', { class: 'muted small' }, ` ${x.primary_metric}`)
            : null,
        ),
        el('td', { class: 'num', 'data-testid': 'experiment-running' }, String(x.running ?? 0)),
        el('td', { title: fmtAgo(x.created) }, fmtTime(x.created)),
      );
      frag.append(tr);
    }
    this.tbody.replaceChildren(frag);
    this.empty.hidden = this.rows.length > 0;
  }

  dispose(): void {}
}
