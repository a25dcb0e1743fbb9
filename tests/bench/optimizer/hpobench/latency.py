"""Suggest-call latency through gRPC with 100 and 1,000 existing observations (issue 3: p50 < 20 ms at
100 observations, < 100 ms at 1,000; the refit may take longer in the background, report it).

For each algorithm and history size n, on a fresh local hpo-server:

1. create an experiment (default: the 6-D ``hartmann6`` space, one minimized metric) and push n
   observations with CreateObservation(assignment=...) at uniformly random points (true values);
2. ``after observation``: K times [CreateObservation for the open suggestion, then *immediately*
   CreateSuggestion]; the service must refit on the new observation first (it computes proposals in
   the background after each observation and makes a request wait for a computation in flight), so
   this first-call latency is the refit time as a client sees it;
3. ``settled``: K times [CreateObservation, sleep until the background refit is surely done (2x the
   median of step 2 + 50 ms), CreateSuggestion]: the precomputed path, what a worker that spends
   any time training sees;
4. ``second in batch``: a second experiment with parallel_bandwidth 2 and the same history; K times
   [observe both open suggestions, CreateSuggestion (first, waits for the refit), CreateSuggestion
   (second, served from the same precomputed batch)].

    python3 -m hpobench.latency --algorithms auto --sizes 100,1000 --out-json L.json --out-md L.md
"""

from __future__ import annotations

from .common import limit_threads

limit_threads()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from typing import Any, Dict, List, Optional, Sequence  # noqa: E402

import numpy as np  # noqa: E402

from .common import environment, parse_ints, parse_list  # noqa: E402
from .problems import get_problem  # noqa: E402

TARGET_P50_MS = {100: 20.0, 1000: 100.0}


def _q(ms: Sequence[float]) -> Dict[str, Any]:
    a = np.asarray(ms, dtype=float)
    if a.size == 0:
        return {"n": 0}
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"n": int(a.size), "p50": float(p50), "p90": float(p90), "p99": float(p99), "max": float(a.max()),
            "mean": float(a.mean())}


class _Exp:
    def __init__(self, server, problem, algorithm: str, seed: int, budget: int, bandwidth: int):
        from .hpo_adapter import decode_assignment, encode_assignment, pb, to_experiment, RPC_TIMEOUT_S
        self.pb2, _, self.svc, _ = pb()
        self.decode, self.encode, self.timeout = decode_assignment, encode_assignment, RPC_TIMEOUT_S
        self.problem, self.stub = problem, server.stub()
        e = to_experiment(problem.space, ["minimize"] * problem.n_objectives,
                          name=f"latency-{algorithm or 'default'}-{uuid.uuid4().hex[:8]}", algorithm=algorithm,
                          seed=seed, observation_budget=budget, parallel_bandwidth=bandwidth)
        self.id = self.stub.CreateExperiment(self.svc.CreateExperimentRequest(experiment=e),
                                             timeout=self.timeout).experiment.id

    def _values(self, req, params):
        v = self.problem.true_f(params)
        for n, x in zip(["f"] if self.problem.n_objectives == 1 else ["f1", "f2"],
                        v if isinstance(v, list) else [v]):
            req.values.add(name=n, value=float(x))

    def push(self, params) -> float:
        req = self.svc.CreateObservationRequest(experiment_id=self.id)
        req.assignment.CopyFrom(self.encode(self.problem.space, params))
        self._values(req, params)
        t0 = time.perf_counter()
        self.stub.CreateObservation(req, timeout=self.timeout)
        return (time.perf_counter() - t0) * 1e3

    def suggest(self):
        t0 = time.perf_counter()
        s = self.stub.CreateSuggestion(self.svc.CreateSuggestionRequest(experiment_id=self.id),
                                       timeout=self.timeout).suggestion
        return (time.perf_counter() - t0) * 1e3, s

    def observe(self, s) -> float:
        req = self.svc.CreateObservationRequest(experiment_id=self.id, suggestion_id=s.id)
        self._values(req, self.decode(self.problem.space, s.assignment))
        t0 = time.perf_counter()
        self.stub.CreateObservation(req, timeout=self.timeout)
        return (time.perf_counter() - t0) * 1e3


def measure(server, algorithm: str, n: int, k: int, problem_name: str, seed: int, max_phase_s: float
            ) -> Dict[str, Any]:
    problem = get_problem(problem_name)
    rng = np.random.default_rng(seed)
    history = [problem.space.sample_uniform(rng) for _ in range(n)]
    res: Dict[str, Any] = {"algorithm": algorithm, "observations": n, "problem": problem_name}

    exp = _Exp(server, problem, algorithm, seed, n + 3 * k + 10, 1)
    t0 = time.perf_counter()
    push_ms = [exp.push(p) for p in history]
    res["push"] = {"total_s": time.perf_counter() - t0, **_q(push_ms)}

    after, observe_ms = [], []
    t_phase = time.perf_counter()
    ms, s = exp.suggest()  # right after the last pushed observation
    after.append(ms)
    while len(after) < k and time.perf_counter() - t_phase < max_phase_s:
        observe_ms.append(exp.observe(s))
        ms, s = exp.suggest()
        after.append(ms)
    res["after_observation"] = _q(after)
    settle_s = min(30.0, 2 * float(np.median(after)) / 1e3 + 0.05)
    res["settle_s"] = settle_s
    settled = []
    t_phase = time.perf_counter()
    while len(settled) < k and time.perf_counter() - t_phase < max_phase_s:
        observe_ms.append(exp.observe(s))
        time.sleep(settle_s)
        ms, s = exp.suggest()
        settled.append(ms)
    res["settled"] = _q(settled)
    res["observe"] = _q(observe_ms)

    exp2 = _Exp(server, problem, algorithm, seed, n + 2 * k + 10, 2)
    for p in history:
        exp2.push(p)
    first, second = [], []
    open_s: List[Any] = []
    t_phase = time.perf_counter()
    while len(first) < k and time.perf_counter() - t_phase < max_phase_s:
        for s2 in open_s:
            exp2.observe(s2)
        ms1, s1 = exp2.suggest()
        ms2, s2 = exp2.suggest()
        first.append(ms1)
        second.append(ms2)
        open_s = [s1, s2]
    res["bandwidth2_first"] = _q(first)
    res["bandwidth2_second"] = _q(second)
    res["target_p50_ms"] = TARGET_P50_MS.get(n)
    return res


def _f(x: Optional[float], nd: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def _pp(q: Dict[str, Any]) -> str:
    return f"{_f(q.get('p50'))} / {_f(q.get('p99'))} (n={q.get('n')})" if q.get("n") else "n/a"


def markdown(res: Dict[str, Any], level: int = 1) -> str:
    h = "#" * level
    meta = res["meta"]
    out = [f"{h} Suggest latency through gRPC\n\n",
           f"Generated {meta.get('created_utc')} on {meta.get('cpu_count')} CPU(s) ({meta.get('cpu_model', '?')}); "
           f"hpo-server `{meta.get('hpo_server_bin')}` built from `{meta.get('git', {}).get('commit', '?')}`; "
           f"problem `{meta.get('problem')}` (history at uniformly random points), client and server on the "
           f"same host, K = {meta.get('k')} calls per cell. Milliseconds, p50 / p99 of the client-side round "
           "trip.\n\n"]
    rows = []
    for r in res["results"]:
        tgt = r.get("target_p50_ms")
        settled = r["settled"].get("p50")
        verdict = "n/a" if tgt is None or settled is None else ("met" if settled < tgt else "missed")
        rows.append([f"`{r['algorithm'] or '(default)'}`", str(r["observations"]),
                     _pp(r["settled"]), _pp(r["after_observation"]), _pp(r["bandwidth2_second"]),
                     _pp(r["bandwidth2_first"]), _f(r["observe"].get("p50")),
                     f"{_f(r['push']['mean'], 2)} ({_f(r['push']['total_s'], 1)} s)",
                     f"< {tgt:g}: {verdict}" if tgt else "n/a"])
    out.append("| algorithm | observations | settled (precomputed) | right after an observation (= refit time) | "
               "bandwidth 2: second call | bandwidth 2: first call | CreateObservation p50 | "
               "push: ms per observation (total) | target p50 (settled) |\n")
    out.append("|" + "---|" * 9 + "\n")
    out += ["| " + " | ".join(r) + " |\n" for r in rows]
    out.append("\n*settled*: CreateSuggestion after sleeping 2x the median refit time + 50 ms once the previous "
               "observation was reported, i.e. served from the proposals the service precomputed in the "
               "background. *right after an observation*: CreateSuggestion issued immediately after "
               "CreateObservation; the call waits for the refit on the new observation, so its latency is the "
               "refit time (plus one round trip). *bandwidth 2*: parallel_bandwidth 2, both open suggestions "
               "observed, then two CreateSuggestion calls; the second is served from the batch computed for "
               "the first.\n")
    from .report import tidy
    return tidy("".join(out))


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--algorithms", default="auto", help="comma list, or 'auto' = every name the server knows")
    ap.add_argument("--sizes", default="100,1000", help="history sizes [100,1000]")
    ap.add_argument("--k", type=int, default=30, help="calls per measurement [30]")
    ap.add_argument("--problem", default="hartmann6")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-phase-s", type=float, default=120.0, help="time cap per measurement phase [120]")
    ap.add_argument("--server", help="hpo-server binary")
    ap.add_argument("--out-json", required=True)
    ap.add_argument("--out-md")
    args = ap.parse_args(argv)
    from .hpo_adapter import HpoServer, ensure_stubs, find_server_bin, probe_algorithms
    from .runner import git_info
    ensure_stubs()
    server_bin = find_server_bin(args.server)
    server = HpoServer(server_bin).start()
    results = []
    try:
        known = probe_algorithms(server.stub())
        algorithms = known if args.algorithms == "auto" else parse_list(args.algorithms)
        for a in algorithms:
            for n in parse_ints(args.sizes):
                t0 = time.time()
                r = measure(server, a, n, args.k, args.problem, args.seed, args.max_phase_s)
                results.append(r)
                print(f"{a:>14} n={n:5d}: settled p50 {r['settled'].get('p50', float('nan')):.2f} ms, after obs "
                      f"p50 {r['after_observation']['p50']:.2f} ms, push {r['push']['total_s']:.1f}s "
                      f"({time.time() - t0:.0f}s)", flush=True)
    finally:
        server.stop()
    res = {"meta": {**environment(), "hpo_server_bin": server_bin, "git": git_info(), "problem": args.problem,
                    "k": args.k, "sizes": parse_ints(args.sizes), "algorithms_known": known},
           "results": results}
    os.makedirs(os.path.dirname(os.path.abspath(args.out_json)), exist_ok=True)
    with open(args.out_json, "w") as fh:
        json.dump(res, fh, indent=1)
        fh.write("\n")
    if args.out_md:
        with open(args.out_md, "w") as fh:
            fh.write(markdown(res))
    print(f"wrote {args.out_json}" + (f" and {args.out_md}" if args.out_md else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
