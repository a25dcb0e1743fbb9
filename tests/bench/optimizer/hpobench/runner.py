"""Sample-efficiency sweep: hpo-server algorithms and the Optuna 3.1 baselines on the same problems and seeds.

For every (problem, optimiser, seed) one sequential run of max(budgets) evaluations; the smaller
budgets are read off the same run ("prefix" mode: no optimiser here knows the budget except through
hpo's observation_budget, which is set to max(budgets) for every run).  Incumbent = the point with the
best *observed* value, scored by its true value: simple regret f(incumbent) - f* (single objective)
or hypervolume ratio HV/HV* of the observed points (two objectives).  Noise uses common random
numbers: the same seed gives the same noise stream to every optimiser.  Seeds derive from
(optimiser, problem, seed) exactly as in the team's optsuite harness, so the Optuna numbers
reproduce its baseline.

    python3 -m hpobench.runner --algorithms auto --seeds 15 --out-json R.json --out-md R.md \\
        --baseline-cache results/optuna-baseline.json [--reuse-baseline]

Optuna results are deterministic per seed: with ``--reuse-baseline`` the runs found in the cache are
taken from it and only the missing ones (and all hpo runs) are executed.
"""

from __future__ import annotations

from .common import limit_threads

limit_threads()

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import multiprocessing as mp  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from typing import Any, Dict, List, Optional, Sequence, Tuple  # noqa: E402

import numpy as np  # noqa: E402

from .common import derive_seed, environment, parse_ints, parse_list, parse_seeds  # noqa: E402
from .optimizers import (BASELINE_NAMES, OPTUNA_SAMPLERS, describe, is_hpo, make_optimizer,  # noqa: E402
                         supports_multi_objective)
from .problems import MULTI_OBJECTIVE, PROBLEMS, SINGLE_OBJECTIVE, get_problem, hv_2d  # noqa: E402

DEFAULT_SO_BASELINES = ["random", "qmc", "tpe", "tpe-mv", "cmaes"]
DEFAULT_MO_BASELINES = ["random", "qmc", "tpe", "nsga2"]
# rough relative cost, used only to schedule slow jobs first
_COST = {"tpe": 10, "tpe-mv": 10, "nsga2": 1, "cmaes": 1, "qmc": 1, "optuna-random": 1, "random": 0.1}


def _sig(x: Optional[float], digits: int = 6) -> Optional[float]:
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def json_clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_clean(v) for v in obj]
    return obj


def _ms_stats(seconds: Sequence[float]) -> Dict[str, float]:
    a = np.asarray(seconds, dtype=float) * 1e3
    if a.size == 0:
        return {}
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"mean": round(float(a.mean()), 4), "p50": round(float(p50), 4), "p90": round(float(p90), 4),
            "p99": round(float(p99), 4), "max": round(float(a.max()), 4),
            "last10": round(float(a[-10:].mean()), 4)}


def run_one(problem_name: str, optimizer_name: str, seed: int, budget: int, budgets: Sequence[int]
            ) -> Dict[str, Any]:
    """One optimisation run -> compact record plus the per-trial traces (key 'trace')."""
    problem = get_problem(problem_name)
    mo = problem.n_objectives > 1
    kw: Dict[str, Any] = {}
    if is_hpo(optimizer_name):
        kw = {"observation_budget": budget, "run_name": f"{problem_name}-s{seed}"}
    opt = make_optimizer(optimizer_name, problem.space,
                         seed=derive_seed("opt", optimizer_name, problem_name, seed),
                         directions=["minimize"] * problem.n_objectives, **kw)
    noise_rng = np.random.default_rng(derive_seed("noise", problem_name, seed))  # shared across optimisers
    suggest_s: List[float] = []
    observe_s: List[float] = []
    curve: List[Optional[float]] = []
    n_failed = 0
    best_obs, best_true = math.inf, math.inf
    mo_points: List[List[float]] = []
    t_start = time.perf_counter()
    exhausted_at: Optional[int] = None
    for trial in range(budget):
        t0 = time.perf_counter()
        try:
            params = opt.suggest()
        except Exception as err:
            if type(err).__name__ != "Exhausted":
                raise
            exhausted_at = trial  # nothing left to suggest: the incumbent stays for the rest of the budget
            curve += [curve[-1] if curve else math.inf] * (budget - trial)
            break
        t1 = time.perf_counter()
        why = problem.space.check(params)
        if why is None:
            ev = problem.evaluate(params, noise_rng)
            t2 = time.perf_counter()
            opt.observe(params, ev.value)
        else:
            ev = None
            n_failed += 1
            t2 = time.perf_counter()
            opt.observe(params, None, failed=True)
        t3 = time.perf_counter()
        suggest_s.append(t1 - t0)
        observe_s.append(t3 - t2)
        if mo:
            if ev is not None:
                mo_points.append(list(ev.true_value))
            curve.append(hv_2d(mo_points, problem.ref_point) / problem.max_hv if mo_points else 0.0)
        else:
            if ev is not None and ev.value < best_obs:
                best_obs, best_true = ev.value, ev.true_value
            curve.append(best_true - problem.f_opt if math.isfinite(best_true) else math.inf)
    wall = time.perf_counter() - t_start
    cfg = opt.config()
    stats = dict(opt.stats)
    opt.close()
    rec = {
        "problem": problem_name, "optimizer": optimizer_name, "seed": seed, "budget": budget,
        "metric": "hv_ratio" if mo else "regret",
        "at": {str(b): _sig(curve[b - 1]) for b in budgets if b <= budget},
        "suggest_ms": _ms_stats(suggest_s), "observe_ms": _ms_stats(observe_s),
        "n_failed": n_failed, "rejected": int(stats.get("rejected", 0)), "wall_s": round(wall, 3),
    }
    if exhausted_at is not None:
        rec["exhausted_at"] = exhausted_at
    if "sources" in cfg:
        rec["sources"] = cfg["sources"]
    rec["trace"] = {"curve": [_sig(c) for c in curve], "suggest_s": [round(s, 6) for s in suggest_s],
                    "observe_s": [round(s, 6) for s in observe_s]}
    return rec


def _job(args: Tuple) -> Dict[str, Any]:
    try:
        return run_one(*args)
    except Exception as err:  # keep the sweep going; record the failure
        if type(err).__name__ == "Unsupported":
            return {"problem": args[0], "optimizer": args[1], "seed": args[2], "budget": args[3],
                    "unsupported": str(err)}
        return {"problem": args[0], "optimizer": args[1], "seed": args[2], "budget": args[3],
                "error": traceback.format_exc()}


def _key(r: Dict[str, Any]) -> Tuple[str, str, int]:
    return (r["problem"], r["optimizer"], int(r["seed"]))


# Baseline cache: columnar JSON per (problem, optimizer), small enough to commit (~100 KB for 15 seeds).
_CACHE_SCALARS = ("budget", "n_failed", "rejected", "wall_s")
_CACHE_MS = ("mean", "p50", "p90", "p99", "max", "last10")


def _sig3(x):
    return None if x is None else float(f"{x:.4g}")


def write_cache(path: str, runs: Sequence[Dict[str, Any]], meta: Dict[str, Any]) -> None:
    groups: Dict[str, Dict[str, Any]] = {}
    for r in sorted(runs, key=_key):
        g = groups.setdefault(f"{r['problem']}/{r['optimizer']}", {
            "problem": r["problem"], "optimizer": r["optimizer"], "metric": r["metric"], "seed": [],
            "at": {b: [] for b in r["at"]}, "suggest_ms": {k: [] for k in _CACHE_MS},
            "observe_ms_mean": [], **{k: [] for k in _CACHE_SCALARS}})
        g["seed"].append(int(r["seed"]))
        for b in g["at"]:
            g["at"][b].append(r["at"].get(b))
        for k in _CACHE_MS:
            g["suggest_ms"][k].append(_sig3(r.get("suggest_ms", {}).get(k)))
        g["observe_ms_mean"].append(_sig3(r.get("observe_ms", {}).get("mean")))
        for k in _CACHE_SCALARS:
            g[k].append(r.get(k))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as fh:
        fh.write('{"meta":' + json.dumps(json_clean(meta), separators=(",", ":")) + ',\n"groups":[\n')
        fh.write(",\n".join(json.dumps(json_clean(g), separators=(",", ":")) for g in groups.values()))
        fh.write("\n]}\n")


def load_cache(path: Optional[str]) -> Dict[Tuple[str, str, int], Dict[str, Any]]:
    if not path or not os.path.exists(path):
        return {}
    with open(path) as fh:
        data = json.load(fh)
    out: Dict[Tuple[str, str, int], Dict[str, Any]] = {}
    for g in data.get("groups", []):
        for i, seed in enumerate(g["seed"]):
            r = {"problem": g["problem"], "optimizer": g["optimizer"], "seed": seed, "metric": g["metric"],
                 "at": {b: v[i] for b, v in g["at"].items()},
                 "suggest_ms": {k: v[i] for k, v in g["suggest_ms"].items()},
                 "observe_ms": {"mean": g["observe_ms_mean"][i]}, "cached": True,
                 **{k: g[k][i] for k in _CACHE_SCALARS}}
            out[_key(r)] = r
    return out


def git_info() -> Dict[str, Any]:
    from .hpo_adapter import SOURCE_DIR
    try:
        head = subprocess.run(["git", "-C", SOURCE_DIR, "log", "-1", "--format=%h %s"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", SOURCE_DIR, "status", "--porcelain", "--untracked-files=no",
                                "--", "server", "proto"], capture_output=True, text=True, timeout=10).stdout
        return {"commit": head, "server_tree_dirty": bool(dirty.strip())}
    except (OSError, subprocess.SubprocessError):
        return {}


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", default="all",
                    help=f"comma list; 'all', 'so', 'mo'. Known: {','.join(PROBLEMS)}")
    ap.add_argument("--algorithms", default="auto",
                    help="hpo algorithms, comma list; 'auto' = every name the server knows; 'none' = skip hpo")
    ap.add_argument("--baselines", default="default",
                    help=f"Optuna/random baselines; 'default' = {','.join(DEFAULT_SO_BASELINES)} (single "
                         f"objective) + {','.join(DEFAULT_MO_BASELINES)} (two objectives); 'none'. "
                         f"Known: {','.join(BASELINE_NAMES)}")
    ap.add_argument("--seeds", default="15", help="N (0..N-1), A-B, or comma list [15]")
    ap.add_argument("--budgets", default="20,50,100", help="comma list [20,50,100] (prefixes of one run)")
    ap.add_argument("--workers", type=int, default=2, help="parallel processes [2]")
    ap.add_argument("--server", help="hpo-server binary (default $HPO_SERVER_BIN or newest build*/bin/hpo-server)")
    ap.add_argument("--baseline-cache", help="JSON of baseline runs: read with --reuse-baseline, rewritten "
                                             "with every baseline run available after this sweep")
    ap.add_argument("--reuse-baseline", action="store_true", help="take baseline runs from --baseline-cache")
    ap.add_argument("--regret-floor", type=float, default=1e-12)
    ap.add_argument("--out-json", required=True, help="summary + compact runs")
    ap.add_argument("--out-md", help="markdown report")
    ap.add_argument("--raw", help="also write per-trial traces of the runs executed now (large)")
    ap.add_argument("--title", default="Optimizer benchmark: hpo-server vs Optuna 3.1")
    args = ap.parse_args(argv)

    problems = parse_list(args.problems, list(PROBLEMS), {"so": SINGLE_OBJECTIVE, "mo": MULTI_OBJECTIVE})
    for p in problems:
        get_problem(p)
    seeds, budgets = parse_seeds(args.seeds), parse_ints(args.budgets)
    max_b = max(budgets)
    if args.server:
        os.environ["HPO_SERVER_BIN"] = os.path.abspath(args.server)

    workdir = tempfile.mkdtemp(prefix="hpobench-")
    os.environ["HPOBENCH_WORKDIR"] = workdir
    try:
        algorithms: List[str] = []
        server_bin = None
        if args.algorithms != "none":
            from .hpo_adapter import HpoServer, ensure_stubs, find_server_bin, probe_algorithms
            ensure_stubs()  # once; the workers inherit HPOBENCH_STUBS
            server_bin = find_server_bin()
            os.environ["HPO_SERVER_BIN"] = server_bin
            probe = HpoServer(server_bin, os.path.join(workdir, "probe")).start()
            try:
                known = probe_algorithms(probe.stub())
            finally:
                probe.stop()
            algorithms = known if args.algorithms == "auto" else parse_list(args.algorithms)
            unknown = [a for a in algorithms if a and a not in known]
            if unknown:
                print(f"error: the server ({server_bin}) does not know {unknown}; known: {known}", file=sys.stderr)
                return 2
            print(f"hpo-server {server_bin}; algorithms known: {known}; benchmarking: {algorithms}", flush=True)
        hpo_names = [f"hpo:{a}" for a in algorithms]
        if args.baselines == "none":
            so_base: List[str] = []
            mo_base: List[str] = []
        elif args.baselines == "default":
            so_base, mo_base = DEFAULT_SO_BASELINES, DEFAULT_MO_BASELINES
        else:
            so_base = mo_base = parse_list(args.baselines)
        for b in set(so_base) | set(mo_base):
            if b not in BASELINE_NAMES:
                ap.error(f"unknown baseline {b!r}")

        cache = load_cache(args.baseline_cache) if args.reuse_baseline else {}
        jobs: List[Tuple] = []
        reused: List[Dict[str, Any]] = []
        for p in problems:
            mo = PROBLEMS[p].n_objectives > 1
            for o in (mo_base if mo else so_base):
                if mo and not supports_multi_objective(o):
                    continue
                for s in seeds:
                    c = cache.get((p, o, s))
                    if c is not None and int(c["budget"]) >= max_b and all(str(b) in c["at"] for b in budgets):
                        reused.append(c)
                    else:
                        jobs.append((p, o, s, max_b, budgets))
            for o in hpo_names:
                for s in seeds:
                    jobs.append((p, o, s, max_b, budgets))
        dims = {p: len(PROBLEMS[p].space) for p in problems}
        jobs.sort(key=lambda j: -(_COST.get(j[1], 20 if is_hpo(j[1]) else 5)) * j[3] * (1 + dims[j[0]] / 4))
        print(f"{len(jobs)} runs to execute ({len(reused)} baseline runs reused from {args.baseline_cache}): "
              f"{len(problems)} problems, hpo {algorithms}, baselines {sorted(set(so_base) | set(mo_base))}, "
              f"{len(seeds)} seeds, budgets {budgets}, {args.workers} workers", flush=True)

        t0 = time.time()
        runs: List[Dict[str, Any]] = []
        traces: List[Dict[str, Any]] = []
        unsupported: Dict[Tuple[str, str], str] = {}
        if jobs:
            ctx = mp.get_context("fork")
            with ctx.Pool(args.workers, maxtasksperchild=None) as pool:
                for i, r in enumerate(pool.imap_unordered(_job, jobs), 1):
                    tr = r.pop("trace", None)
                    if tr is not None:
                        traces.append({**{k: r[k] for k in ("problem", "optimizer", "seed")}, **tr})
                    runs.append(r)
                    if "unsupported" in r:
                        unsupported.setdefault((r["problem"], r["optimizer"]), r["unsupported"])
                        continue
                    if "error" in r:
                        print(f"ERROR {r['problem']}/{r['optimizer']}/seed{r['seed']}:\n{r['error']}",
                              file=sys.stderr, flush=True)
                    if i % max(1, len(jobs) // 20) == 0 or i == len(jobs):
                        print(f"  {i}/{len(jobs)} done, {time.time() - t0:.0f}s", flush=True)
        elapsed = time.time() - t0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    all_runs = reused + runs
    errors = [r for r in runs if "error" in r]
    env = environment()
    meta = {**env, "budgets": budgets, "seeds": seeds, "budget_mode": "prefix", "regret_floor": args.regret_floor,
            "argv": sys.argv[1:] if argv is None else list(argv), "elapsed_s": round(elapsed, 1),
            "workers": args.workers, "hpo_algorithms": algorithms, "hpo_server_bin": server_bin,
            "git": git_info(), "baselines_reused": len(reused), "errors": len(errors), "title": args.title,
            "unsupported": [{"problem": p, "optimizer": o, "reason": why} for (p, o), why in sorted(unsupported.items())]}
    if args.baseline_cache and runs:
        base_runs = load_cache(args.baseline_cache)
        fresh = [r for r in runs if not is_hpo(r["optimizer"]) and "error" not in r]
        if fresh:
            for r in fresh:
                base_runs[_key(r)] = r
            write_cache(args.baseline_cache, list(base_runs.values()),
                        {**env, "kind": "baseline cache (hpobench.runner)", "budgets": budgets})
            print(f"baseline cache {args.baseline_cache}: {len(base_runs)} runs")
    if args.raw:
        with open(args.raw, "w") as fh:
            json.dump(json_clean({"meta": meta, "traces": traces}), fh, separators=(",", ":"))

    from .report import build_result, markdown
    opts = [o for o in BASELINE_NAMES if o in set(so_base) | set(mo_base)] + hpo_names
    result = build_result(all_runs, problems, opts, meta, {o: describe(o) for o in opts})
    os.makedirs(os.path.dirname(os.path.abspath(args.out_json)), exist_ok=True)
    with open(args.out_json, "w") as fh:
        json.dump(json_clean(result), fh, indent=1, allow_nan=False)
        fh.write("\n")
    print(f"wrote {args.out_json} ({elapsed:.0f}s)")
    if args.out_md:
        with open(args.out_md, "w") as fh:
            fh.write(markdown(result))
        print(f"wrote {args.out_md}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
