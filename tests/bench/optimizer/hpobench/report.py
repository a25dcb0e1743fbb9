"""Summary statistics and the markdown report of a sweep (pasteable into docs/benchmarks.md).

Headline numbers, per hpo algorithm, at budget 50 (issue 3's targets):

* fraction of the single-objective problems where hpo's median log10 regret is strictly lower
  than Optuna TPE's;
* on the smooth continuous problems (:data:`SMOOTH`), the ratio TPE regret / hpo regret of the
  medians, i.e. ``10 ** (median log10 regret TPE - median log10 regret hpo)`` (target >= 10);
* two objectives: median hypervolume ratio HV/HV* of hpo vs MOTPE (``tpe``) and NSGA-II;
* per-suggestion latency as the sweep saw it (client round trip of CreateSuggestion).

    python3 -m hpobench.report --json results/latest.json --md results/latest.md   # re-render
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .common import quantiles
from .problems import PROBLEMS

# Purely continuous, differentiable, noise-free, unconstrained problems ("smooth continuous" in
# issue 3).  Ackley is left out: not differentiable at its optimum and oscillatory by design.
SMOOTH = ["branin", "hartmann3", "hartmann6", "rosenbrock4", "levy4", "styblinski_tang8"]
TARGET_BUDGET = 50
TARGET_BEAT_FRACTION = 0.8
TARGET_SMOOTH_RATIO = 10.0


def _log_regret(v: Optional[float], floor: float) -> float:
    if v is None or not math.isfinite(v):
        return math.inf
    return math.log10(max(v, floor))


def summarize(runs: Sequence[Dict[str, Any]], budgets: Sequence[int], floor: float) -> Dict[str, Any]:
    groups: Dict[tuple, List[Dict[str, Any]]] = {}
    for r in runs:
        if "error" not in r:
            groups.setdefault((r["problem"], r["optimizer"]), []).append(r)
    out: Dict[str, Any] = {}
    for (prob, opt), rs in sorted(groups.items()):
        e: Dict[str, Any] = {"n_seeds": len({r["seed"] for r in rs}), "metric": rs[0]["metric"], "budgets": {}}
        for b in budgets:
            vals = [r["at"].get(str(b)) for r in rs if str(b) in r["at"]]
            if rs[0]["metric"] == "regret":
                vals = [_log_regret(v, floor) for v in vals]
            else:
                vals = [0.0 if v is None else float(v) for v in vals]
            if vals:
                e["budgets"][str(b)] = quantiles(vals)
        sm = [r.get("suggest_ms", {}) for r in rs if r.get("suggest_ms")]
        if sm:
            e["suggest_ms"] = {"mean": float(np.mean([s["mean"] for s in sm])),
                               "p50": float(np.median([s["p50"] for s in sm])),
                               "p99": float(np.median([s["p99"] for s in sm])),
                               "max": float(np.max([s.get("max", s["p99"]) for s in sm])),
                               "last10": float(np.mean([s["last10"] for s in sm]))}
        om = [r.get("observe_ms", {}).get("mean") for r in rs if r.get("observe_ms")]
        if om:
            e["observe_ms_mean"] = float(np.mean(om))
        ex = [r["exhausted_at"] for r in rs if "exhausted_at" in r]
        if ex:
            e["exhausted"] = {"runs": len(ex), "median_trials": float(np.median(ex))}
        e["failed_evals_mean"] = float(np.mean([r.get("n_failed", 0) for r in rs]))
        e["rejected_mean"] = float(np.mean([r.get("rejected", 0) for r in rs]))
        out.setdefault(prob, {})[opt] = e
    return out


def _med(summary, p, o, b) -> Optional[float]:
    q = summary.get(p, {}).get(o, {}).get("budgets", {}).get(str(b))
    return None if not q else q["median"]


def headline(summary: Dict[str, Any], problems: Sequence[str], hpo_opts: Sequence[str], budget: int
             ) -> Dict[str, Any]:
    so = [p for p in problems if PROBLEMS[p].n_objectives == 1]
    mo = [p for p in problems if PROBLEMS[p].n_objectives > 1]
    out: Dict[str, Any] = {"budget": budget, "smooth_problems": [p for p in SMOOTH if p in so]}
    for o in hpo_opts:
        h: Dict[str, Any] = {}
        wins, compared = [], []
        for p in so:
            a, t = _med(summary, p, o, budget), _med(summary, p, "tpe", budget)
            if a is None or t is None:
                continue
            compared.append(p)
            if a < t:
                wins.append(p)
        h["beats_tpe"] = {"problems": wins, "n": len(wins), "of": len(compared),
                          "fraction": (len(wins) / len(compared)) if compared else None,
                          "target": TARGET_BEAT_FRACTION}
        ratios = {}
        for p in SMOOTH:
            a, t = _med(summary, p, o, budget), _med(summary, p, "tpe", budget)
            if a is not None and t is not None and math.isfinite(a) and math.isfinite(t):
                ratios[p] = 10 ** (t - a)
        h["smooth_tpe_over_hpo"] = {
            "per_problem": ratios,
            "geomean": float(10 ** np.mean(np.log10(list(ratios.values())))) if ratios else None,
            "min": min(ratios.values()) if ratios else None,
            "n_at_least_10x": sum(v >= TARGET_SMOOTH_RATIO for v in ratios.values()), "of": len(ratios),
            "target": TARGET_SMOOTH_RATIO}
        hv = {}
        for p in mo:
            a = _med(summary, p, o, budget)
            if a is None:
                continue
            t, n = _med(summary, p, "tpe", budget), _med(summary, p, "nsga2", budget)
            hv[p] = {"hpo": a, "tpe": t, "nsga2": n,
                     "ratio_vs_tpe": (a / t) if t else None, "ratio_vs_nsga2": (a / n) if n else None,
                     "meets": (t is None or a >= t) and (n is None or a >= n)}
        h["hv"] = hv
        sm = [summary[p][o]["suggest_ms"] for p in problems if o in summary.get(p, {})
              and "suggest_ms" in summary[p][o]]
        if sm:
            h["suggest_ms"] = {"mean": float(np.mean([s["mean"] for s in sm])),
                               "p50": float(np.median([s["p50"] for s in sm])),
                               "p99_worst_problem": float(np.max([s["p99"] for s in sm])),
                               "max": float(np.max([s["max"] for s in sm]))}
        out[o] = h
    return out


def build_result(runs, problems, opts, meta, descriptions) -> Dict[str, Any]:
    budgets = meta["budgets"]
    summary = summarize(runs, budgets, meta.get("regret_floor", 1e-12))
    present = [o for o in opts if any(o in summary.get(p, {}) for p in problems)]
    hpo_opts = [o for o in present if o.startswith("hpo:")]
    tb = TARGET_BUDGET if TARGET_BUDGET in budgets else max(budgets)
    return {"meta": meta, "problems": {p: _problem_info(p) for p in problems},
            "optimizers": {o: descriptions.get(o, o) for o in present},
            "summary": summary, "headline": headline(summary, problems, hpo_opts, tb)}


def _problem_info(p: str) -> Dict[str, Any]:
    info = PROBLEMS[p].info()
    return {k: info[k] for k in ("name", "source", "f_opt", "noise_std", "n_objectives", "ref_point", "max_hv",
                                 "space")}


# ---------------------------------------------------------------------------------- markdown
def _f(x: Optional[float], nd: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{nd}f}"


def _ratio(x: Optional[float]) -> str:
    if x is None:
        return "n/a"
    if x >= 100 or x < 0.01:
        return f"{x:.2g}x"
    return f"{x:.2f}x"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _space_kind(space: Dict[str, Any]) -> str:
    ps = space["parameters"]
    n = {t: sum(p["type"] == t for p in ps) for t in ("double", "int", "categorical")}
    kinds = ["+".join(f"{v}{k[0]}" for k, v in n.items() if v)]
    if any(p.get("transformation") == "log" for p in ps):
        kinds.append("log")
    if any(p.get("conditions") for p in ps):
        kinds.append("conditional")
    if space.get("linear_constraints"):
        kinds.append("lin.constr")
    return ", ".join(kinds)


def _o(o: str) -> str:
    return f"`{o}`"


def markdown(res: Dict[str, Any], level: int = 1) -> str:
    h = "#" * level
    meta, summ, head = res["meta"], res["summary"], res["headline"]
    budgets = meta["budgets"]
    probs = list(res["problems"])
    so = [p for p in probs if res["problems"][p]["n_objectives"] == 1]
    mo = [p for p in probs if res["problems"][p]["n_objectives"] > 1]
    opts = list(res["optimizers"])
    hpo = [o for o in opts if o.startswith("hpo:")]
    so_opts = [o for o in opts if any(o in summ.get(p, {}) for p in so)]
    mo_opts = [o for o in opts if any(o in summ.get(p, {}) for p in mo)]
    tb = head["budget"]
    out: List[str] = [f"{h} {meta.get('title', 'Optimizer benchmark')}\n"]
    git = meta.get("git", {})
    reused = (f", {meta['baselines_reused']} baseline runs taken from the cache (`--reuse-baseline`)"
              if meta.get("baselines_reused") else "")
    errors = f", **{meta['errors']} runs failed**" if meta.get("errors") else ""
    out.append(
        f"Generated {meta.get('created_utc')} on {meta.get('cpu_count')} CPU(s) ({meta.get('cpu_model', '?')}), "
        f"Python {meta.get('python')}, Optuna {meta.get('optuna')}, numpy {meta.get('numpy')}. "
        f"hpo-server `{meta.get('hpo_server_bin')}` built from `{git.get('commit', '?')}`"
        f"{' (server/proto with uncommitted changes)' if git.get('server_tree_dirty') else ''}. "
        f"{len(meta['seeds'])} seeds, budgets {budgets} (prefixes of one {max(budgets)}-evaluation run), "
        f"{meta.get('workers')} worker processes, {meta.get('elapsed_s')} s wall{reused}{errors}.\n")

    # ---- targets
    if hpo:
        out.append(f"\n{h}# Issue 3 targets at {tb} evaluations\n")
        rows = []
        for o in hpo:
            x = head.get(o, {})
            bt = x.get("beats_tpe", {})
            frac = bt.get("fraction")
            beat = (f"{bt.get('n')}/{bt.get('of')} ({100 * frac:.0f}%) "
                    f"{'met' if frac is not None and frac >= TARGET_BEAT_FRACTION else 'missed'}"
                    if frac is not None else "n/a")
            sm = x.get("smooth_tpe_over_hpo", {})
            smooth = (f"geomean {_ratio(sm.get('geomean'))}, min {_ratio(sm.get('min'))}; "
                      f"{sm.get('n_at_least_10x')}/{sm.get('of')} at >= 10x" if sm.get("of") else "n/a")
            hv = x.get("hv", {})
            hvs = "; ".join(f"`{p}` {_f(v['hpo'], 3)} vs {_f(v['tpe'], 3)}/{_f(v['nsga2'], 3)}"
                            f" {'met' if v['meets'] else 'missed'}" for p, v in hv.items()) or "n/a"
            lat = x.get("suggest_ms", {})
            rows.append([_o(o), beat, smooth, hvs,
                         f"{_f(lat.get('mean'), 1)} / {_f(lat.get('p50'), 1)} / {_f(lat.get('p99_worst_problem'), 1)}"
                         if lat else "n/a"])
        out.append(_table(["hpo algorithm", f"beats TPE (median log10 regret, single-objective; target >= "
                                            f"{int(100 * TARGET_BEAT_FRACTION)}%)",
                           "smooth continuous: TPE regret / hpo regret (target >= 10x each)",
                           "HV ratio hpo vs MOTPE/NSGA-II (target >= both)",
                           "suggest ms in the sweep: mean / p50 / worst per-problem p99"], rows))
        out.append(f"\nSmooth continuous problems: {', '.join(f'`{p}`' for p in head.get('smooth_problems', []))}. "
                   "Ratios compare medians over seeds: `10^(median log10 regret TPE - median log10 regret hpo)`. "
                   "Suggest latency is the client-side CreateSuggestion round trip through gRPC, asked right "
                   "after the previous observation (so it includes any wait for a model refit); see "
                   "`latency.md` for the dedicated latency benchmark.\n")

    # ---- regret tables
    if so:
        out.append(f"\n{h}# Single objective: median log10 simple regret (lower is better)\n")
        out.append(f"Regret = f(incumbent) - f*, incumbent = best *observed* point (noisy problem: its true value), "
                   f"floored at {meta.get('regret_floor', 1e-12):g}. Best median per row in bold; budget {tb} "
                   "also shows [q25, q75].\n")
        for b in budgets:
            out.append(f"\n**{b} evaluations**\n\n")
            rows = []
            for p in so:
                cells = {o: summ.get(p, {}).get(o, {}).get("budgets", {}).get(str(b)) for o in so_opts}
                best = min((q["median"] for q in cells.values() if q), default=None)
                row = [f"`{p}`"]
                for o in so_opts:
                    q = cells[o]
                    if not q:
                        row.append("–")
                        continue
                    s = _f(q["median"]) + (f" [{_f(q['q25'])}, {_f(q['q75'])}]" if b == tb else "")
                    row.append(f"**{s}**" if q["median"] == best else s)
                rows.append(row)
            out.append(_table(["problem"] + [_o(o) for o in so_opts], rows))
        if hpo and "tpe" in so_opts:
            out.append(f"\n**hpo vs TPE at {tb} evaluations** (ratio = TPE regret / hpo regret of the medians; "
                       "> 1 means hpo is better)\n\n")
            rows = []
            for p in so:
                t = _med(summ, p, "tpe", tb)
                row = [f"`{p}`" + (" (smooth)" if p in SMOOTH else ""), _f(t)]
                for o in hpo:
                    a = _med(summ, p, o, tb)
                    r = 10 ** (t - a) if a is not None and t is not None and math.isfinite(a) and math.isfinite(t) \
                        else None
                    row.append(f"{_f(a)} ({_ratio(r)})")
                rows.append(row)
            out.append(_table(["problem", "`tpe`"] + [_o(o) for o in hpo], rows))
    if mo:
        out.append(f"\n{h}# Two objectives: hypervolume ratio HV/HV*, median [q25, q75] (higher is better)\n\n")
        rows = []
        for p in mo:
            for b in budgets:
                cells = {o: summ.get(p, {}).get(o, {}).get("budgets", {}).get(str(b)) for o in mo_opts}
                best = max((q["median"] for q in cells.values() if q), default=None)
                row = [f"`{p}`", str(b)]
                for o in mo_opts:
                    q = cells[o]
                    s = f"{_f(q['median'], 3)} [{_f(q['q25'], 3)}, {_f(q['q75'], 3)}]" if q else "–"
                    row.append(f"**{s}**" if q and q["median"] == best else s)
                rows.append(row)
        out.append(_table(["problem", "budget"] + [_o(o) for o in mo_opts], rows))

    # ---- overhead
    out.append(f"\n{h}# Suggestion latency in the sweep (ms per CreateSuggestion / ask)\n\n")
    rows = []
    for o in opts:
        es = [(p, summ[p][o]) for p in probs if o in summ.get(p, {}) and "suggest_ms" in summ[p][o]]
        if not es:
            continue
        worst_p, worst = max(es, key=lambda pe: pe[1]["suggest_ms"]["p99"])
        rows.append([_o(o), _f(np.mean([e["suggest_ms"]["mean"] for _, e in es])),
                     _f(float(np.median([e["suggest_ms"]["p50"] for _, e in es]))),
                     _f(np.mean([e["suggest_ms"]["last10"] for _, e in es])),
                     f"{_f(worst['suggest_ms']['p99'])} (`{worst_p}`)",
                     _f(np.mean([e.get("observe_ms_mean", float('nan')) for _, e in es])),
                     _f(np.mean([e["failed_evals_mean"] for _, e in es]), 1),
                     _f(summ.get("hartmann6_lincon", {}).get(o, {}).get("rejected_mean"), 1)])
    out.append(_table(["optimizer", "mean", "p50 (median over problems)", "mean, last 10 trials",
                       "worst problem p99", "observe mean", "failed evals / run",
                       "rejected draws / run (lincon)"], rows))
    out.append("\nhpo: client-side gRPC round trips to a local hpo-server (SQLite in a temp dir), one server per "
               "worker process. Optuna: `study.ask()` + define-by-run `suggest_*` (in-memory storage); observe = "
               "`study.tell()`. 'failed evals' are suggestions the harness found infeasible (they cost budget); "
               "'rejected draws' are Optuna's internal reject-and-resample for the linear constraint (free).\n")

    ex = [f"`{o}` on `{p}` ({e['exhausted']['runs']} runs, after {e['exhausted']['median_trials']:.0f} trials)"
          for p in probs for o, e in summ.get(p, {}).items() if "exhausted" in e]
    if ex:
        out.append("\nRuns that ran out of suggestions (finite grid; the incumbent is kept for the rest of the "
                   "budget): " + "; ".join(ex) + ".\n")
    if meta.get("unsupported"):
        out.append("\nNot run (the server refused the experiment): " + "; ".join(
            f"`{u['optimizer']}` on `{u['problem']}` ({u['reason']})" for u in meta["unsupported"]) + "\n")

    # ---- problems and optimizers
    out.append(f"\n{h}# Problems\n\n")
    rows = []
    for p in probs:
        info = res["problems"][p]
        target = (f"f* = {info['f_opt']:.6g}" if info["n_objectives"] == 1
                  else f"ref {info['ref_point']}, HV* = {info['max_hv']:.6g}")
        noise = f", noise sd {info['noise_std']}" if info.get("noise_std") else ""
        rows.append([f"`{p}`", str(len(info["space"]["parameters"])), _space_kind(info["space"]) + noise, target,
                     info["source"]])
    out.append(_table(["problem", "dim", "space", "optimum", "source"], rows))
    out.append(f"\n{h}# Optimizers\n\n")
    out.append(_table(["name", "configuration"], [[_o(o), res["optimizers"][o]] for o in opts]))
    return tidy("".join(out))


def tidy(text: str) -> str:
    """A blank line after every heading, at most one blank line in a row."""
    lines: List[str] = []
    for line in text.split("\n"):
        if line == "" and lines and lines[-1] == "":
            continue
        if lines and lines[-1].startswith("#") and line != "":
            lines.append("")
        lines.append(line)
    return "\n".join(lines).strip() + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", required=True)
    ap.add_argument("--md", required=True)
    args = ap.parse_args(argv)
    with open(args.json) as fh:
        res = json.load(fh)
    with open(args.md, "w") as fh:
        fh.write(markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
