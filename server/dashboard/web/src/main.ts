// Entry: hash router (#/ and #/experiments/{id}) and live refresh by polling /api/v1/revision.
import './style.css';
import { api, ApiError } from './api';
import { el } from './format';
import { ExperimentView } from './experiment';
import { ListView } from './list';
import { showError, View } from './view';
import { clearToken, showSignIn } from './auth';

const POLL_MS = 2000;

const app = document.getElementById('app') as HTMLElement;
const revisionEl = document.getElementById('revision') as HTMLElement;
const liveEl = document.getElementById('live') as HTMLElement;

let view: View | null = null;
let routeKey = '';
let lastRevision: number | null = null; // last revision the current view was refreshed at
let lastSeenByPoll: number | null = null; // last revision the poll saw
let refreshing: Promise<void> | null = null;
let pending = false;

function parseRoute(): { key: string; make: (root: HTMLElement) => View } | null {
  const h = (location.hash || '#/').replace(/^#/, '');
  const m = /^\/experiments\/([^/?]+)\/?$/.exec(h);
  if (m) {
    const id = decodeURIComponent(m[1]);
    return { key: `exp:${id}`, make: (root) => new ExperimentView(root, id) };
  }
  if (h === '' || h === '/') return { key: 'list', make: (root) => new ListView(root) };
  return null;
}

function route(): void {
  const r = parseRoute();
  if (!r) {
    location.replace('#/');
    return;
  }
  if (r.key === routeKey && view) return;
  view?.dispose();
  routeKey = r.key;
  showError(null);
  revisionEl.textContent = '';
  delete revisionEl.dataset.revision;
  window.scrollTo(0, 0);
  view = r.make(app);
  void refreshView(true);
}

/** Refetches the current view; coalesces overlapping requests into one more run. */
async function refreshView(fetchRevision: boolean): Promise<void> {
  if (refreshing) {
    pending = true;
    return refreshing;
  }
  const v = view;
  if (!v) return;
  const run = async () => {
    let rev: number | null = null;
    if (fetchRevision) {
      try {
        rev = (await api.revision()).revision;
      } catch {
        rev = null;
      }
    } else rev = lastSeenByPoll;
    try {
      await v.refresh();
      if (v === view) showError(null);
    } catch (e) {
      if (v === view) showError(e instanceof Error ? e.message : String(e));
      if (e instanceof ApiError && e.status === 401) {
        clearToken();
        showSignIn(() => void refreshView(true));
      }
    }
    if (v === view && rev !== null) {
      lastRevision = rev;
      revisionEl.textContent = String(rev);
      revisionEl.dataset.revision = String(rev);
    }
  };
  refreshing = run().finally(() => {
    refreshing = null;
    if (pending) {
      pending = false;
      void refreshView(true);
    }
  });
  return refreshing;
}


async function poll(): Promise<void> {
  try {
    const r = await api.revision();
    lastSeenByPoll = r.revision;
    liveEl.classList.remove('down');
    liveEl.title = `Live refresh: revision ${r.revision}`;
    if (lastRevision === null || r.revision !== lastRevision) await refreshView(false);
  } catch (e) {
    liveEl.classList.add('down');
    liveEl.title = `Live refresh paused: ${e instanceof Error ? e.message : String(e)}`;
  }
  try {
    view?.tick?.();
  } catch (e) {
    console.error(e);
  }
  window.setTimeout(() => void poll(), POLL_MS);
}

if (!app) document.body.append(el('div', {}, 'missing #app'));
window.addEventListener('hashchange', route);
route();
window.setTimeout(() => void poll(), POLL_MS);
