"""Traces, summaries, targets, markdown and the plot of the end-to-end benchmark.

A run's trace: its finished trials in the order they finished, each with the cumulative steps trained so
far (all finished trials, pruned and failed ones included), the trial count, and the best AUC of a
completed trial so far; only trials that finish within the step budget count.  Medians and quartiles are over
seeds; a run that never reaches the target counts as infinitely many steps/trials (so a median exists
only when at least half of the seeds reach it).
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

SIDE_NAME = {"hpo-bayesian": "hpo bayesian", "optuna-tpe": "Optuna TPE", "optuna-random": "Optuna random"}
FRACTIONS = (0.25, 0.5, 1.0)
INF = float("inf")


def method_key(side: str, pruner: str) -> str:
    return f"{side}/{pruner}"


def method_name(key: str) -> str:
    side, pruner = key.split("/")
    return f"{SIDE_NAME.get(side, side)} + {pruner}" if pruner != "none" else f"{SIDE_NAME.get(side, side)}"


def trace(run: Dict[str, Any]) -> List[Tuple[int, int, Optional[float]]]:
    out, cum, best = [], 0, None
    for i, t in enumerate(run["trials"], 1):
        cum += int(t["steps"])
        if cum > run["budget_steps"]:
            break  # finished beyond the budget: not part of the run
        if t["state"] == "COMPLETED" and t["auc"] is not None and (best is None or t["auc"] > best):
            best = float(t["auc"])
        out.append((cum, i, best))
    return out


def best_at_steps(tr, steps: float) -> Optional[float]:
    b = None
    for cum, _n, best in tr:
        if cum > steps:
            break
        b = best
    return b


def best_at_trials(tr, k: int) -> Optional[float]:
    b = None
    for _cum, n, best in tr:
        if n > k:
            break
        b = best
    return b


def to_target(tr, target: float) -> Tuple[float, float]:
    for cum, n, best in tr:
        if best is not None and best >= target:
            return float(cum), float(n)
    return INF, INF


def pct(values: Sequence[float], p: float) -> float:
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p
    f, c = math.floor(k), math.ceil(k)
    if f == c or v[f] == v[c]:
        return v[f]
    if math.isinf(v[c]) or math.isinf(v[f]):
        return v[c] if k - f > 0 and math.isinf(v[c]) else v[f]
    return v[f] + (v[c] - v[f]) * (k - f)


def quart(values: Sequence[Optional[float]], missing: float = -INF) -> Dict[str, float]:
    vals = [missing if x is None else float(x) for x in values]
    return {"q1": pct(vals, 0.25), "median": pct(vals, 0.5), "q3": pct(vals, 0.75), "n": len(vals)}


def summarize(runs: List[Dict[str, Any]], target: float) -> Dict[str, Dict[str, Any]]:
    """Per (parallel, method): quartiles of steps/trials to target and best AUC at budget fractions."""
    groups: Dict[Tuple[int, str], List[Dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((int(r["parallel"]), method_key(r["side"], r["pruner"])), []).append(r)
    out: Dict[str, Dict[str, Any]] = {}
    for (par, key), rs in sorted(groups.items()):
        rs = sorted(rs, key=lambda r: r["seed"])
        trs = [trace(r) for r in rs]
        budget = rs[0]["budget_steps"]
        tt = [to_target(tr, target) for tr in trs]
        s: Dict[str, Any] = {"parallel": par, "method": key, "seeds": [r["seed"] for r in rs],
                             "steps_to_target": quart([x[0] for x in tt], INF),
                             "trials_to_target": quart([x[1] for x in tt], INF),
                             "reached": sum(1 for x in tt if not math.isinf(x[0])),
                             "per_seed_steps_to_target": [x[0] for x in tt],
                             "per_seed_trials_to_target": [x[1] for x in tt]}
        for f in FRACTIONS:
            vals = [best_at_steps(tr, f * budget) for tr in trs]
            s[f"best_auc_at_{f:g}"] = quart(vals)
            if f == 1.0:
                s["per_seed_best_auc"] = vals
        s["trials"] = quart([len(tr) for tr in trs])
        s["completed"] = quart([sum(1 for t in r["trials"][:len(tr)] if t["state"] == "COMPLETED")
                                for r, tr in zip(rs, trs)])
        s["failed"] = quart([sum(1 for t in r["trials"][:len(tr)] if t["state"] == "FAILED")
                             for r, tr in zip(rs, trs)])
        s["wall_s"] = quart([r["wall_s"] for r in rs])
        out[f"p{par}:{key}"] = s
    return out


def derive_target(runs: List[Dict[str, Any]]) -> Tuple[float, Dict[str, Any]]:
    """The target, placed as the Criteo target is (a little below the best AUC reached): start from the
    highest median best AUC at the full budget of any method and mode, rounded down to 0.001, and step down
    by 0.001 until, one trial at a time, the best variant of each side (hpo, Optuna TPE) reaches it in a
    majority of seeds, so that both sides' median steps to target exist."""
    base = summarize(runs, 1.0)
    top_key = max(base, key=lambda k: base[k]["best_auc_at_1"]["median"])
    top = base[top_key]["best_auc_at_1"]["median"]
    p1 = [r for r in runs if int(r["parallel"]) == 1] or runs
    sides = sorted({r["side"] for r in p1 if r["side"] in ("hpo-bayesian", "optuna-tpe")})
    t = math.floor(top * 1000 + 1e-9) / 1000
    for _ in range(30):
        s = summarize(p1, t)
        if all(any(x["reached"] * 2 > x["steps_to_target"]["n"] for x in s.values()
                   if x["method"].startswith(side + "/")) for side in sides):
            return t, {"top": top, "top_key": top_key, "stepped": True}
        t = round(t - 0.001, 3)
    return math.floor((top - 0.002) * 1000 + 1e-9) / 1000, {"top": top, "top_key": top_key, "stepped": False}


RULE_TEXT = ("the highest median best AUC at the full budget of any method and mode, rounded down to 0.001, "
             "then lowered by 0.001 until the best variant of each side (hpo, Optuna TPE) reaches it in a "
             "majority of seeds one trial at a time, so both sides' median steps to target exist — a value just "
             "below the best AUC reached, as the Criteo target 0.8025 is")


def tpe_best(summary: Dict[str, Dict[str, Any]], par: int) -> Optional[str]:
    return side_best(summary, par, "optuna-tpe")


def side_best(summary: Dict[str, Dict[str, Any]], par: int, side: str) -> Optional[str]:
    """A side's best variant: fewest median steps to target, then fewest trials, then the highest final AUC."""
    cands = [k for k, s in summary.items() if s["parallel"] == par and s["method"].startswith(side + "/")]
    if not cands:
        return None
    return min(cands, key=lambda k: (summary[k]["steps_to_target"]["median"],
                                     summary[k]["trials_to_target"]["median"],
                                     -summary[k]["best_auc_at_1"]["median"]))


def _fmt_q(q: Dict[str, float], fmt: str, scale: float = 1.0) -> str:
    def one(x: float) -> str:
        if math.isinf(x):
            return "—" if x > 0 else "n/a"
        if math.isnan(x):
            return "?"
        return format(x / scale, fmt)
    return f"{one(q['median'])} [{one(q['q1'])}, {one(q['q3'])}]"


def _ratio(a: float, b: float) -> str:
    if math.isinf(a) and math.isinf(b):
        return "—"
    if math.isinf(a):
        return "∞"
    if math.isinf(b) or b == 0:
        return "≪1 (ref. —)"
    return f"{a / b:.2f}×"


def auc_delta(a: float, b: float) -> float:
    """a − b where -inf means no completed trial yet (both none: equal)."""
    if math.isinf(a) and math.isinf(b):
        return 0.0
    return a - b


def targets(summary: Dict[str, Dict[str, Any]], par: int) -> List[Dict[str, Any]]:
    """Per hpo pruner: the two issue targets against Optuna TPE's best pruner."""
    ref = tpe_best(summary, par)
    if ref is None:
        return []
    r = summary[ref]
    out = []
    for k, s in summary.items():
        if s["parallel"] != par or not s["method"].startswith("hpo-"):
            continue
        a, b = s["steps_to_target"]["median"], r["steps_to_target"]["median"]
        steps_ratio = (INF if math.isinf(a) and not math.isinf(b) else float("nan") if math.isinf(a)
                       else 0.0 if math.isinf(b) else a / b)
        d = {f: auc_delta(s[f"best_auc_at_{f:g}"]["median"], r[f"best_auc_at_{f:g}"]["median"]) for f in FRACTIONS}
        out.append({"method": s["method"], "reference": r["method"], "steps_ratio": steps_ratio,
                    "trials_ratio": (s["trials_to_target"]["median"] / r["trials_to_target"]["median"]
                                     if not math.isinf(s["trials_to_target"]["median"])
                                     and not math.isinf(r["trials_to_target"]["median"]) else None),
                    "auc_delta": d,
                    "steps_met": (not math.isnan(steps_ratio)) and steps_ratio <= 0.5,
                    "auc_met": all(v >= 0 for v in d.values())})
    return out


def sensitivity(runs: List[Dict[str, Any]], targets_: Sequence[float], T: int) -> List[str]:
    """Median steps to target (full-trial equivalents) and seeds reaching it, for a range of targets."""
    pars = sorted({int(r["parallel"]) for r in runs})
    L = []
    for par in pars:
        rs = [r for r in runs if int(r["parallel"]) == par]
        sums = {t: summarize(rs, t) for t in targets_}
        keys = sorted(sums[targets_[0]], key=lambda k: (not k.split(":", 1)[1].startswith("hpo"), k))
        L.append(f"{par} at a time:\n")
        L.append("| method | " + " | ".join(f"{t:.3f}" for t in targets_) + " |")
        L.append("|---|" + "---|" * len(targets_))
        for k in keys:
            cells = []
            for t in targets_:
                x = sums[t][k]
                m = x["steps_to_target"]["median"]
                cells.append(f"{'—' if math.isinf(m) else f'{m / T:.1f}'} ({x['reached']}/{x['steps_to_target']['n']})")
            L.append(f"| {method_name(k.split(':', 1)[1])} | " + " | ".join(cells) + " |")
        L.append("")
    return L


def markdown(summary: Dict[str, Dict[str, Any]], meta: Dict[str, Any]) -> str:
    L: List[str] = []
    target, T = meta["target"], meta["max_steps"]
    L.append(f"# {meta['title']}\n")
    L.append(meta["setup_md"] + "\n")
    for par in sorted({s["parallel"] for s in summary.values()}):
        ref = tpe_best(summary, par)
        L.append(f"## {par} trial{'s' if par > 1 else ''} at a time\n")
        L.append(f"Median [quartiles] over seeds; steps in full-trial equivalents ({T} steps); "
                 f"target AUC {target:.3f}; \"—\": not reached (in more than half of the seeds for a "
                 f"median). Ratios against Optuna TPE's best pruner here: **{method_name(ref.split(':', 1)[1]) if ref else '—'}**.\n")
        L.append("| method | steps to target | × TPE best | trials to target | × TPE best | reached | "
                 "best AUC at 1/4 budget | at 1/2 | at full budget | Δ full vs TPE best | trials | completed | failed |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        keys = sorted((k for k, s in summary.items() if s["parallel"] == par),
                      key=lambda k: (summary[k]["method"].split("/")[0] != "hpo-bayesian",
                                     summary[k]["method"].split("/")[0],
                                     ["none", "median", "asha", "hyperband"].index(summary[k]["method"].split("/")[1])
                                     if summary[k]["method"].split("/")[1] in ("none", "median", "asha", "hyperband")
                                     else 9))
        r = summary[ref] if ref else None
        for k in keys:
            s = summary[k]
            name = method_name(s["method"])
            if k == ref:
                name = f"**{name}**"
            st, tr = s["steps_to_target"], s["trials_to_target"]
            rs = _ratio(st["median"], r["steps_to_target"]["median"]) if r else ""
            rt = _ratio(tr["median"], r["trials_to_target"]["median"]) if r else ""
            dl = f"{auc_delta(s['best_auc_at_1']['median'], r['best_auc_at_1']['median']):+.4f}" if r else ""
            L.append(f"| {name} | {_fmt_q(st, '.1f', T)} | {rs} | {_fmt_q(tr, '.0f')} | {rt} | {s['reached']}/{st['n']} | "
                     f"{_fmt_q(s['best_auc_at_0.25'], '.4f')} | {_fmt_q(s['best_auc_at_0.5'], '.4f')} | "
                     f"{_fmt_q(s['best_auc_at_1'], '.4f')} | {dl} | {s['trials']['median']:.0f} | "
                     f"{s['completed']['median']:.0f} | {s['failed']['median']:.0f} |")
        tg = targets(summary, par)
        if tg:
            L.append("")
            L.append(f"Targets ({par} at a time), hpo against {method_name(ref.split(':', 1)[1])}: "
                     "median steps to target ≤ 0.5×, and best AUC at equal steps (1/4, 1/2, full budget) at least as high.\n")
            L.append("| hpo | steps to target × | trials to target × | Δ best AUC at 1/4, 1/2, full | steps target | AUC target |")
            L.append("|---|---|---|---|---|---|")
            for t in tg:
                sr = t["steps_ratio"]
                srt = ("∞" if math.isinf(sr) else "— (neither reaches)" if math.isnan(sr)
                       else "≪1 (ref. —)" if sr == 0 else f"{sr:.2f}")
                trt = "—" if t["trials_ratio"] is None else f"{t['trials_ratio']:.2f}"
                d = ", ".join(f"{t['auc_delta'][f]:+.4f}" for f in FRACTIONS)
                L.append(f"| {method_name(t['method'])} | {srt} | {trt} | {d} | "
                         f"{'met' if t['steps_met'] else 'missed'} | {'met' if t['auc_met'] else 'missed'} |")
        L.append("")
    if meta.get("sensitivity_md"):
        L.append("## Other targets\n")
        L.append("Median steps to target in full-trial equivalents (seeds reaching it), for targets around the "
                 "chosen one: how much the verdicts depend on where the bar is.\n")
        L += meta["sensitivity_md"]
    if meta.get("notes_md"):
        L.append(meta["notes_md"] + "\n")
    return "\n".join(L)


def curves(runs: List[Dict[str, Any]], points: int = 121, max_trials: Optional[int] = None):
    """Median and quartile curves per (parallel, method): against steps (full-trial equivalents) and trials."""
    groups: Dict[Tuple[int, str], List[Dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((int(r["parallel"]), method_key(r["side"], r["pruner"])), []).append(r)
    out = {}
    for (par, key), rs in groups.items():
        budget = rs[0]["budget_steps"]
        trs = [trace(r) for r in rs]
        xs = [budget * i / (points - 1) for i in range(points)]
        ys = [quart([best_at_steps(tr, x) for tr in trs]) for x in xs]
        kmax = max_trials or max(len(tr) for tr in trs)
        ks = list(range(1, kmax + 1))
        # beyond a run's last trial its best stays what it was
        yk = [quart([best_at_trials(tr, k) for tr in trs]) for k in ks]
        out[(par, key)] = {"steps": xs, "by_steps": ys, "trials": ks, "by_trials": yk}
    return out


COLORS = {"hpo-bayesian/none": "#08306b", "hpo-bayesian/median": "#2171b5", "hpo-bayesian/asha": "#6baed6",
          "hpo-bayesian/hyperband": "#41ab5d", "optuna-tpe/none": "#7f2704", "optuna-tpe/median": "#d94801",
          "optuna-tpe/asha": "#fd8d3c", "optuna-tpe/hyperband": "#e7298a", "optuna-random/none": "#737373"}


def plot(runs: List[Dict[str, Any]], meta: Dict[str, Any], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cv = curves(runs)
    pars = sorted({p for p, _ in cv})
    T = meta["max_steps"]
    fig, axes = plt.subplots(len(pars), 2, figsize=(13, 4.6 * len(pars)), squeeze=False)
    finite = [q["median"] for c in cv.values() for q in c["by_steps"] if math.isfinite(q["median"])]
    top = max(finite) if finite else 1.0
    lo = max(0.5, meta["target"] - 0.03)
    for row, par in enumerate(pars):
        for col, (xk, yk, label) in enumerate((("steps", "by_steps", f"cumulative training steps (full trials of {T} steps)"),
                                               ("trials", "by_trials", "trials"))):
            ax = axes[row][col]
            for (p, key), c in sorted(cv.items(), key=lambda kv: kv[0][1]):
                if p != par:
                    continue
                xs = [x / T for x in c[xk]] if xk == "steps" else c[xk]
                med = [q["median"] if math.isfinite(q["median"]) else float("nan") for q in c[yk]]
                q1 = [q["q1"] if math.isfinite(q["q1"]) else lo for q in c[yk]]
                q3 = [q["q3"] if math.isfinite(q["q3"]) else float("nan") for q in c[yk]]
                color = COLORS.get(key, None)
                style = "-" if key.startswith("hpo") else ("--" if "tpe" in key else ":")
                banded = key in meta.get("bands", {}).get(par, ())
                ax.plot(xs, med, style, color=color, lw=2.2 if banded else 1.2,
                        label=method_name(key) + (" (quartiles shaded)" if banded else ""), drawstyle="steps-post")
                if banded:  # quartile bands for each side's best variant only, or the plot is unreadable
                    ax.fill_between(xs, q1, q3, color=color, alpha=0.15, step="post")
            ax.axhline(meta["target"], color="black", lw=0.8, ls="-.")
            ax.text(0.01, meta["target"], f" target {meta['target']:.3f}", va="bottom", fontsize=8,
                    transform=ax.get_yaxis_transform())
            ax.set_ylim(lo, top + 0.004)
            if xk == "trials":
                ax.set_xlim(0, min(100, max(len(c[xk]) for c in cv.values())))
            ax.set_xlabel(label)
            ax.set_ylabel("best AUC of a completed trial")
            ax.set_title(f"{par} trial{'s' if par > 1 else ''} at a time: best AUC vs {xk} "
                         f"(median of {meta['seeds']} seeds)", fontsize=10)
            ax.grid(alpha=0.3)
            if col == 1:
                ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(meta["plot_title"], fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
