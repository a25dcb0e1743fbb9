// End-to-end checks of the hpo dashboard in real headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core; no browser is downloaded).
//
// Run by dashboard_browser_test.py, which starts hpo-server, seeds three experiments through gRPC
// and writes what the page must show to a JSON file:
//
//   node --test-reporter=spec browser_test.mjs EXPECT.json
//
// Every wait is on a condition (an attribute, a text, an event) with a deadline; nothing sleeps.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const X = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const TIMEOUT = 20000; // per condition; the page polls the server every 2 s
const SHOTS = X.screenshots || '';

let browser;
let context;
const problems = []; // page errors, console errors and failed API calls, from every page

before(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  context.setDefaultTimeout(TIMEOUT);
  if (SHOTS) fs.mkdirSync(SHOTS, { recursive: true });
  fs.mkdirSync(X.download_dir, { recursive: true });
});

after(async () => {
  await browser?.close();
});

// ---- helpers ----

async function openPage(hash) {
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error on ${page.url()}: ${e.stack || e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error on ${page.url()}: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
  });
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  await page.goto(X.url + hash);
  return page;
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `get` until its value deep-equals `expected`; fails with the last value after `timeout`. */
async function eventually(get, expected, what, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let actual;
  for (;;) {
    actual = await get();
    if (JSON.stringify(actual) === JSON.stringify(expected)) return actual;
    if (Date.now() > deadline) break;
    await pause(50);
  }
  assert.deepEqual(actual, expected, `${what} (waited ${timeout / 1000} s)`);
  return actual;
}

const attr = (page, testid, name) => () => page.getByTestId(testid).first().getAttribute(name);
const text = (locator) => async () => ((await locator.textContent()) ?? '').replace(/\s+/g, ' ').trim();

/** Waits until the chart has rendered (data-ready="1") with `points` points. */
async function expectChart(page, testid, points) {
  await eventually(attr(page, testid, 'data-ready'), '1', `${testid} data-ready`);
  await eventually(attr(page, testid, 'data-points'), String(points), `${testid} data-points`);
}

function close(actual, expected, what) {
  assert.ok(
    Math.abs(actual - expected) <= 1e-3 * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} is not ${expected} (to 4 significant digits)`,
  );
}

/** Moves the mouse off the charts and waits until no chart tooltip is visible. */
async function unhover(page) {
  await page.mouse.move(1, 1);
  await eventually(
    () =>
      page.evaluate(
        () =>
          Array.from(document.querySelectorAll('[data-ready] > div')).filter((d) => {
            if (d.querySelector('canvas') || !d.innerHTML.trim()) return false; // not a shown tooltip
            const s = getComputedStyle(d);
            return s.display !== 'none' && s.visibility !== 'hidden' && s.opacity !== '0';
          }).length,
      ),
    0,
    'chart tooltips hidden',
  );
}

async function screenshot(page, name) {
  if (!SHOTS) return;
  await page.evaluate(() => window.scrollTo(0, 0));
  await unhover(page); // no tooltip or hover highlight in the picture
  await page.screenshot({ path: path.join(SHOTS, name), fullPage: true });
}

/** Checks every panel of an experiment view against the seeded expectations. */
async function checkExperimentView(page, x) {
  await eventually(text(page.getByTestId('exp-name')), x.name, 'experiment name');
  await eventually(
    text(page.getByTestId('exp-progress').locator('.stat-value')),
    `${x.observations} / ${x.budget}`,
    'header progress',
  );
  await eventually(text(page.getByTestId('exp-failed').locator('.stat-value')), String(x.failed), 'header failed');
  await eventually(text(page.getByTestId('exp-running').locator('.stat-value')), String(x.open), 'header running');

  await expectChart(page, 'chart-improvement', x.non_failed);
  await expectChart(page, 'chart-importance', x.importance_bars);
  await expectChart(page, 'chart-parallel', x.parallel_points);
  await expectChart(page, 'chart-slices', x.slice_points);
  // One slice chart per parameter, each with every non-failed observation.
  for (const p of x.parameters) await expectChart(page, `chart-slice-${p}`, x.non_failed);
  assert.equal(await page.locator('[data-testid^="chart-slice-"]').count(), x.parameters.length, 'slice charts');
  await expectChart(page, 'chart-curves', x.curves);
  assert.equal(
    await page.getByTestId('chart-curves').getAttribute('data-statuses'),
    x.curves ? x.curve_statuses : null,
    'curve statuses',
  );
  await expectChart(page, 'chart-sources', x.source_kinds);
  await eventually(
    text(page.locator('section.panel', { has: page.getByTestId('chart-sources') }).locator('.panel-note')),
    `${x.suggestions} suggestions`,
    'sources total',
  );

  // Pareto and constraint panels exist only for experiments that have them (rendered in the same
  // pass as the charts above, so their absence is final here).
  if (x.pareto_points) {
    await expectChart(page, 'chart-pareto', x.pareto_points);
    await eventually(attr(page, 'chart-pareto', 'data-pareto'), String(x.pareto_front), 'Pareto front size');
  } else {
    assert.equal(await page.getByTestId('chart-pareto').count(), 0, 'no Pareto panel');
  }
  if (x.constraint_observed) {
    await expectChart(page, 'chart-constraints', 1);
    await eventually(attr(page, 'constraints-all', 'data-all-satisfied'), String(x.constraint_satisfied), 'all satisfied');
    await eventually(attr(page, 'constraints-all', 'data-observed'), String(x.constraint_observed), 'constraints observed');
    await eventually(
      text(page.getByTestId('constraints-all')),
      `${fmtPct(x.constraint_satisfied, x.constraint_observed)}% of observations satisfy all constraints ` +
        `(${x.constraint_satisfied} / ${x.constraint_observed})`,
      'constraints summary',
    );
  } else {
    assert.equal(await page.getByTestId('chart-constraints').count(), 0, 'no constraints panel');
  }

  // Observations table: first page, default sort by trial.
  const pageRows = Math.min(50, x.observations);
  await eventually(text(page.getByTestId('obs-count')), `Showing 1-${pageRows} of ${x.observations}`, 'obs-count');
  assert.equal(await page.getByTestId('obs-row').count(), pageRows, 'observation rows on the first page');
  assert.equal(await page.getByTestId('obs-row').first().getAttribute('data-trial'), '1', 'first row');

  await checkWorkers(page, x);
  assert.equal(await page.getByTestId('error').isHidden(), true, 'no error banner');
}

function fmtPct(a, b) {
  // The page prints 4 significant digits without trailing zeros (format.ts fmtNum).
  const v = (100 * a) / b;
  if (Number.isInteger(v)) return String(v);
  return v.toPrecision(4).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

async function checkWorkers(page, x) {
  const rows = page.getByTestId('worker-row');
  await eventually(() => rows.count(), x.workers.length, 'worker rows');
  for (const w of x.workers) {
    const row = page.locator(`[data-testid="worker-row"][data-worker="${w.worker_id}"]`);
    assert.equal(await row.count(), 1, `worker ${w.worker_id} listed`);
    assert.equal(await text(row.getByTestId('worker-live'))(), w.live ? 'live' : 'lost', `worker ${w.worker_id} live`);
    assert.equal(
      await text(row.getByTestId('worker-trials'))(),
      w.trial ? `suggestion ${w.trial}` : 'idle',
      `worker ${w.worker_id} current trial`,
    );
  }
}

/** Hovers a chart's plot area column by column; returns the tooltip texts shown. */
async function hoverTooltips(page, testid, grid, columns, done) {
  const chart = page.getByTestId(testid);
  await chart.scrollIntoViewIfNeeded();
  await page.evaluate((id) => {
    const c = document.querySelector(`[data-testid="${id}"]`);
    window.__tips = [];
    const record = () => {
      for (const d of c.querySelectorAll(':scope > div')) {
        if (!d.querySelector('canvas') && d.innerHTML) window.__tips.push(d.innerHTML);
      }
    };
    window.__tipObserver?.disconnect();
    window.__tipObserver = new MutationObserver(record);
    window.__tipObserver.observe(c, { subtree: true, childList: true, characterData: true });
  }, testid);
  const box = await chart.boundingBox();
  const x0 = box.x + grid.left;
  const x1 = box.x + box.width - grid.right;
  const y0 = box.y + grid.top;
  const y1 = box.y + box.height - grid.bottom;
  let tips = [];
  let used = 0;
  for (const f of columns) {
    const x = x0 + f * (x1 - x0);
    for (let y = y0; y <= y1; y += 2) await page.mouse.move(x, y);
    used++;
    tips = await page.evaluate(() => window.__tips);
    if (done(tips)) break;
  }
  await unhover(page);
  return { tips, columns: used };
}

const plain = (html) =>
  html
    .replace(/<br\s*\/?>/g, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'");

// ---- tests ----

test('experiments list shows the three experiments, newest first', async () => {
  const page = await openPage('#/');
  const rows = page.getByTestId('experiment-row');
  await eventually(() => rows.count(), X.list.length, 'experiment rows');
  for (let i = 0; i < X.list.length; i++) {
    const x = X.list[i];
    const row = rows.nth(i);
    assert.equal(await row.getAttribute('data-id'), x.id, `row ${i} id`);
    assert.equal(await text(row.locator('td').first())(), x.name, `row ${i} name`);
    assert.equal(await text(row.getByTestId('experiment-state'))(), x.state, `${x.name} state`);
    assert.equal(await text(row.getByTestId('experiment-progress'))(), `${x.observations} / ${x.budget}`, `${x.name} progress`);
    assert.equal(await text(row.getByTestId('experiment-running'))(), String(x.open), `${x.name} running`);
  }
  const finished = page.locator(`[data-testid="experiment-row"][data-id="${X.finished.id}"]`);
  const best = await text(finished.getByTestId('experiment-best'))();
  close(parseFloat(best), X.finished.best, 'best score of the finished experiment');
  assert.ok(best.endsWith(X.finished.primary), `best names its metric: ${best}`);
  await screenshot(page, 'dashboard-experiments.png');

  // Following the link routes to the experiment in the same page.
  await finished.locator('a').click();
  await eventually(() => page.url(), `${X.url}#/experiments/${X.finished.id}`, 'URL after the click');
  await eventually(text(page.getByTestId('exp-name')), X.finished.name, 'experiment name after the click');
  await page.close();
});

test('finished experiment: charts, sorting, filtering, paging and CSV download', async () => {
  const x = X.finished;
  const page = await openPage(`#/experiments/${x.id}`);
  await checkExperimentView(page, x);
  await screenshot(page, 'dashboard-experiment.png');

  const count = page.getByTestId('obs-count');
  const rows = page.getByTestId('obs-row');
  const th = page.getByTestId(`obs-th-${x.primary}`);

  // Sorting by the metric: ascending first (smallest value on top), then descending.
  await th.click();
  await eventually(() => th.getAttribute('aria-sort'), 'ascending', 'aria-sort after one click');
  await eventually(() => rows.first().getAttribute('data-trial'), String(x.min_trial), 'first row sorted ascending');
  await th.click();
  await eventually(() => th.getAttribute('aria-sort'), 'descending', 'aria-sort after two clicks');
  await eventually(() => rows.first().getAttribute('data-trial'), String(x.max_trial), 'first row sorted descending');
  assert.equal(await page.getByTestId('obs-th-trial').getAttribute('aria-sort'), null, 'one sorted column');
  // Failed observations have no value: they come last whatever the direction.
  await page.getByTestId('obs-last').click();
  const last = x.observations - 50;
  await eventually(text(count), `Showing 51-${x.observations} of ${x.observations}`, 'last page count');
  const classes = await rows.evaluateAll((trs) => trs.map((tr) => tr.className));
  assert.equal(classes.length, last, 'rows on the last page');
  assert.deepEqual(
    classes.slice(last - x.failed),
    Array(x.failed).fill('row-failed'),
    'failed observations sort last',
  );
  assert.ok(!classes.slice(0, last - x.failed).includes('row-failed'), 'only failed observations at the end');

  // Back to trial order, then paging.
  await page.getByTestId('obs-th-trial').click();
  await eventually(() => page.getByTestId('obs-th-trial').getAttribute('aria-sort'), 'ascending', 'sorted by trial');
  await eventually(text(count), `Showing 1-50 of ${x.observations}`, 'sorting returns to the first page');
  assert.equal(await rows.count(), 50);
  assert.equal(await text(page.getByTestId('obs-page'))(), 'Page 1 of 2');
  assert.equal(await page.getByTestId('obs-prev').isDisabled(), true, 'no previous page');
  await page.getByTestId('obs-next').click();
  await eventually(text(count), `Showing 51-${x.observations} of ${x.observations}`, 'second page');
  assert.equal(await rows.count(), x.observations - 50, 'rows on the second page');
  assert.equal(await rows.first().getAttribute('data-trial'), '51', 'second page starts at trial 51');
  assert.equal(await text(page.getByTestId('obs-page'))(), 'Page 2 of 2');
  assert.equal(await page.getByTestId('obs-next').isDisabled(), true, 'no next page');
  await page.getByTestId('obs-prev').click();
  await eventually(text(count), `Showing 1-50 of ${x.observations}`, 'back to the first page');

  // Filtering narrows the rows and the count ("Showing 1-6 of 6 (filtered from 60)").
  const filter = page.getByTestId('obs-filter');
  const countLine = count.locator('..');
  await filter.fill('failed');
  await eventually(text(countLine), `Showing 1-${x.filter_failed} of ${x.filter_failed} (filtered from ${x.observations})`, 'filter "failed"');
  assert.equal(await rows.count(), x.filter_failed);
  const failedRows = await rows.evaluateAll((trs) => trs.map((tr) => tr.className));
  assert.deepEqual(failedRows, Array(x.filter_failed).fill('row-failed'), 'only failed rows');
  assert.equal(
    await rows.first().locator('td').nth(1).getAttribute('title'),
    x.failure_reason,
    'failure reason on hover',
  );
  await filter.fill('tanh');
  await eventually(text(countLine), `Showing 1-${x.filter_tanh} of ${x.filter_tanh} (filtered from ${x.observations})`, 'filter "tanh"');
  assert.equal(await rows.count(), x.filter_tanh);
  await filter.fill('no-such-value');
  await eventually(text(countLine), `Showing 0 of 0 (filtered from ${x.observations})`, 'filter with no match');
  assert.equal(await rows.count(), 0);
  await filter.fill('');
  await eventually(text(countLine), `Showing 1-50 of ${x.observations}`, 'filter cleared');

  // The CSV link downloads every observation, with a header line.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('csv-link').click()]);
  assert.equal(download.suggestedFilename(), `experiment-${x.id}-observations.csv`);
  const file = path.join(X.download_dir, 'finished.csv');
  await download.saveAs(file);
  const lines = fs.readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => l.length > 0);
  assert.equal(lines.length, x.observations + 1, 'CSV lines = observations + header');
  assert.match(lines[0], new RegExp(x.primary), 'CSV header names the metric');
  await page.close();
});

test('running experiment: learning curves with pruned trials, workers and their current trial', async (t) => {
  const x = X.running;
  const page = await openPage(`#/experiments/${x.id}`);
  await checkExperimentView(page, x);
  await eventually(text(page.getByTestId('exp-pruned').locator('.stat-value')), String(x.pruned), 'header pruned');
  await eventually(text(page.getByTestId('exp-pruner').locator('.stat-value')), 'median', 'header pruner');
  await screenshot(page, 'dashboard-curves.png');

  // Pruned rows of the observations table carry the stop reason as their state's tooltip.
  for (const [trial, reason] of Object.entries(x.pruned_trials)) {
    const cell = page.locator(`[data-testid="obs-row"][data-trial="${trial}"] td`).nth(1);
    assert.equal(await text(cell)(), 'pruned', `trial ${trial} state`);
    assert.equal(await cell.getAttribute('title'), reason, `trial ${trial} stop reason on hover`);
  }

  // Hovering the curves shows each one's status, and the pruner's stop reason for pruned ones.
  // Every curve spans steps 1-2, so some column of the plot area crosses all of them.
  const expected = x.curve_status_by_suggestion;
  const parse = (tips) => {
    const seen = {};
    for (const t of tips.map(plain)) {
      const sid = /suggestion (\d+)/.exec(t)?.[1];
      const status = /status: (\w+)/.exec(t)?.[1];
      if (sid && status) seen[sid] = { status, text: t };
    }
    return seen;
  };
  const { tips, columns } = await hoverTooltips(
    page,
    'chart-curves',
    { left: 56, right: 24, top: 36, bottom: 48 }, // the chart's grid (experiment.ts renderCurves)
    [0.02, 0.06, 0.1, 0.14, 0.18, 0.22, 0.26, 0.3, 0.34, 0.38],
    (t) => Object.keys(parse(t)).length === Object.keys(expected).length,
  );
  const seen = parse(tips);
  t.diagnostic(`hovered ${columns} column(s) of the curves chart`);
  assert.deepEqual(
    Object.fromEntries(Object.entries(seen).map(([k, v]) => [k, v.status])),
    expected,
    'curve tooltips: status of every suggestion',
  );
  for (const [sid, reason] of Object.entries(x.stop_reasons)) {
    assert.ok(seen[sid].text.includes(`stop reason: ${reason}`), `stop reason of ${sid}: ${seen[sid].text}`);
    assert.ok(seen[sid].text.includes('stopped at step 2'), `stop step of ${sid}: ${seen[sid].text}`);
  }
  assert.ok(seen[x.running_suggestion].text.includes('Trial (running)'), 'the running curve has no trial yet');
  await page.close();
});

test('two-metric experiment: Pareto front, constraints, and a new observation without a reload', async () => {
  const x = X.pareto;
  const page = await openPage(`#/experiments/${x.id}`);
  await checkExperimentView(page, x);

  // The constraint chart's tooltip gives the satisfied / violated counts.
  const chart = page.getByTestId('chart-constraints');
  await chart.scrollIntoViewIfNeeded();
  const box = await chart.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  const tip = chart.locator(':scope > div:not(:has(canvas))');
  await eventually(
    async () => {
      const t = ((await tip.count()) ? await tip.first().textContent() : '') ?? '';
      return [/satisfied\D*(\d+)/.exec(t)?.[1], /violated\D*(\d+)/.exec(t)?.[1]];
    },
    [String(x.constraint_satisfied), String(x.constraint_violated)],
    'constraint tooltip counts',
  );
  await unhover(page);
  await screenshot(page, 'dashboard-pareto.png');

  // Report one more result from outside the page (hpo-cli), with the page left open.
  await page.evaluate(() => {
    window.__liveMarker = 'still the same document';
  });
  const url = page.url();
  let navigations = 0;
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) navigations++;
  });
  // The revision the page refreshed at (set once its first refresh is done).
  await eventually(async () => /^\d+$/.test((await attr(page, 'revision', 'data-revision')()) ?? ''), true, 'revision shown');
  const revision = Number(await page.getByTestId('revision').getAttribute('data-revision'));
  const cli = (...args) => execFileSync(X.cli_bin, ['--server', X.grpc_address, ...args], { encoding: 'utf8' });
  const suggestion = JSON.parse(cli('--json', 'suggest', x.id)).suggestion;
  assert.ok(suggestion?.id, 'hpo-cli suggest gave a suggestion');
  const values = Object.entries(x.live_values).map(([k, v]) => `${k}=${v}`);
  cli('observe', x.id, '--suggestion', String(suggestion.id), ...values);

  const n = x.observations + 1;
  await eventually(text(page.getByTestId('obs-count')), `Showing 1-${n} of ${n}`, 'obs-count after the new observation');
  await eventually(attr(page, 'chart-improvement', 'data-points'), String(x.non_failed + 1), 'improvement points');
  await eventually(attr(page, 'chart-parallel', 'data-points'), String(x.parallel_points + 1), 'parallel points');
  await eventually(attr(page, 'chart-pareto', 'data-points'), String(x.pareto_points + 1), 'Pareto points');
  // The new point dominates every other one.
  await eventually(attr(page, 'chart-pareto', 'data-pareto'), '1', 'Pareto front after a dominating point');
  await eventually(attr(page, 'constraints-all', 'data-observed'), String(x.constraint_observed + 1), 'constraints observed');
  await eventually(
    attr(page, 'constraints-all', 'data-all-satisfied'),
    String(x.constraint_satisfied + 1),
    'constraints satisfied',
  );
  await eventually(
    text(page.getByTestId('exp-progress').locator('.stat-value')),
    `${n} / ${x.budget}`,
    'header progress after the new observation',
  );
  const row = page.locator(`[data-testid="obs-row"][data-trial="${n}"]`);
  await eventually(() => row.count(), 1, 'the new row');
  assert.ok((await text(row)()).includes(String(x.live_values.auc)), 'the new row shows its auc');
  assert.ok(Number(await page.getByTestId('revision').getAttribute('data-revision')) > revision, 'revision moved');
  assert.equal(page.url(), url, 'same URL');
  assert.equal(await page.evaluate(() => window.__liveMarker), 'still the same document', 'no reload');
  assert.equal(navigations, 0, 'no navigation');
  await page.close();
});

test('no page errors, console errors or failed requests', () => {
  assert.deepEqual(problems, []);
});
