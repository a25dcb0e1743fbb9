// Types and fetch helpers for the dashboard JSON API (docs/dashboard.md).

export type Id = number | string;

export interface ExperimentRow {
  id: Id;
  name: string;
  project: string;
  state: string;
  created: string;
  budget: number;
  observations: number;
  failed: number;
  running: number;
  primary_metric: string;
  objective: string;
  best: number | null;
}

export interface ParameterInfo {
  name: string;
  type: 'double' | 'int' | 'categorical' | string;
  min?: number;
  max?: number;
  log?: boolean;
  categories?: string[];
}

export interface MetricInfo {
  name: string;
  objective: string;
  strategy: string;
  threshold: number | null;
}

export interface ExperimentDetail extends ExperimentRow {
  parallel_bandwidth: number;
  optimizer: string;
  pruner: string;
  parameters: ParameterInfo[];
  metrics: MetricInfo[];
  pruned: number;
  open: number;
  queued: number;
  stopping_advice?: string;
}

export type ParamValue = number | string | boolean | null;

export interface ObservationRow {
  id: Id;
  trial: number;
  suggestion_id: Id;
  created: string;
  failed: boolean;
  failure_reason: string;
  pruned: boolean;
  stop_reason: string;
  source: string;
  assignment: Record<string, ParamValue>;
  values: Record<string, number | null>;
}

export interface Improvement {
  metric: string;
  objective: string;
  points: { trial: number; value: number; feasible?: boolean; best: number | null }[];
}

export interface Importance {
  metric: string;
  importance: { parameter: string; importance: number }[];
}

export interface Curve {
  suggestion_id: Id;
  trial: number;
  status: string;
  stop_reason: string;
  stop_step: number;
  points: [number, number][];
}

export interface Curves {
  metric: string;
  curves: Curve[];
}

export interface Pareto {
  metrics: string[];
  objectives: string[];
  points: { trial: number; observation_id: Id; x: number; y: number; pareto: boolean }[];
}

export interface Constraints {
  constraints: { metric: string; threshold: number; objective: string; satisfied: number; violated: number }[];
  all_satisfied: number;
  observed: number;
}

export interface Sources {
  sources: { source: string; count: number }[];
}

export interface Worker {
  worker_id: string;
  name: string;
  host: string;
  threads: number;
  registered: string;
  last_heartbeat: string;
  live: boolean;
  trials: { experiment_id: Id; suggestion_id: Id }[];
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
  }
}

/** The response text each parsed body came from: lets views skip re-rendering unchanged data. */
const rawText = new WeakMap<object, string>();

export function responseText(body: unknown): string | undefined {
  return body !== null && typeof body === 'object' ? rawText.get(body) : undefined;
}

/** GETs a JSON API path (relative to the page's origin). Throws ApiError with the server's message. */
export async function getJson<T>(path: string): Promise<T> {
  let resp: Response;
  try {
    resp = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(`Cannot reach the server (${String(e)})`, 0, 'UNAVAILABLE');
  }
  const text = await resp.text();
  let body: unknown = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  const err = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
  if (!resp.ok || err) {
    const code = err?.code ?? `HTTP_${resp.status}`;
    const message = err?.message ?? (text.trim() || resp.statusText || `HTTP ${resp.status}`);
    throw new ApiError(message, resp.status, code);
  }
  if (body === null || typeof body !== 'object') {
    throw new ApiError(`Malformed response from ${path}`, resp.status, 'INTERNAL');
  }
  rawText.set(body, text);
  return body as T;
}

const enc = encodeURIComponent;

export const api = {
  revision: () => getJson<{ revision: number }>('/api/v1/revision'),
  experiments: (project?: string, state?: string) => {
    const q: string[] = [];
    if (project) q.push(`project=${enc(project)}`);
    if (state) q.push(`state=${enc(state)}`);
    return getJson<{ experiments: ExperimentRow[] }>(`/api/v1/experiments${q.length ? '?' + q.join('&') : ''}`);
  },
  experiment: (id: string) => getJson<{ experiment: ExperimentDetail }>(`/api/v1/experiments/${enc(id)}`),
  observations: (id: string) =>
    getJson<{ observations: ObservationRow[] }>(`/api/v1/experiments/${enc(id)}/observations`),
  csvUrl: (id: string) => `/api/v1/experiments/${enc(id)}/observations.csv`,
  improvement: (id: string) => getJson<Improvement>(`/api/v1/experiments/${enc(id)}/improvement`),
  importance: (id: string) => getJson<Importance>(`/api/v1/experiments/${enc(id)}/importance`),
  curves: (id: string, maxPoints = 200) =>
    getJson<Curves>(`/api/v1/experiments/${enc(id)}/curves?max_points=${maxPoints}`),
  pareto: (id: string) => getJson<Pareto>(`/api/v1/experiments/${enc(id)}/pareto`),
  constraints: (id: string) => getJson<Constraints>(`/api/v1/experiments/${enc(id)}/constraints`),
  sources: (id: string) => getJson<Sources>(`/api/v1/experiments/${enc(id)}/sources`),
  workers: (id: string) => getJson<{ workers: Worker[] }>(`/api/v1/workers?experiment=${enc(id)}`),
};
