"""End-to-end DLRM tuning benchmark: hpo (hpo-server + hpo-worker, Bayesian optimizer, no pruner / median /
ASHA / Hyperband) against Optuna 3.1 (TPE with the same pruners, and random search) on the quick start's
DLRM space, the real trainer and planted synthetic data; budget in training steps; 1 and 2 trials at a
time; best AUC against steps and trials, and steps/trials to a target AUC.  See ../README.md.

    python3 -m tunebench.bench --bin DIR --out-dir results [--quick] [--seeds 5] [--budget 20] ...
    python3 -m tunebench.bench --report-only results/latest.json [--target 0.79]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import math
import multiprocessing as mp
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any, Dict, List, Optional

from hpobench.common import parse_seeds

from . import report
from .runner import TRAINER_SEED
from .space import PRUNERS, Problem, dlrm_train_flags

ALL_METHODS = ([f"hpo-bayesian/{p}" for p in PRUNERS] + [f"optuna-tpe/{p}" for p in PRUNERS]
               + ["optuna-random/none"])
# The target of the default configuration, fixed once from the first full run by report.derive_target's
# rule, so later runs (a changed optimizer) meet the same bar; other configurations derive theirs.
DEFAULT_TARGET: Optional[float] = 0.785
DEFAULTS = {"max_steps": 400, "eval_every": 40, "batch_size": 256, "budget": 20, "train_examples": 131072,
            "test_examples": 16384, "data_seed": 1, "table_scale": 0.001}


def gen_data(bin_dir: str, workdir: str, a) -> Dict[str, Any]:
    train, test = os.path.join(workdir, "train.bin"), os.path.join(workdir, "test.bin")
    out = subprocess.run([os.path.join(bin_dir, "dlrm-datagen"), "--mode=synthetic", f"--out_train={train}",
                          f"--out_test={test}", f"--train_examples={a.train_examples}",
                          f"--test_examples={a.test_examples}", f"--table_scale={a.table_scale}",
                          f"--seed={a.data_seed}"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"bayes_optimal_test_auc:\s*([0-9.]+)", out)
    return {"train_path": train, "test_path": test, "bayes_auc": float(m.group(1)) if m else None,
            "datagen": out.strip().replace("\n", "; ")}


def auto_parallel2(runs: List[Dict[str, Any]], a, methods: List[str]) -> List[str]:
    """No pruner and ASHA for both sides, plus each side's best pruner 1 at a time (fewest median steps to the
    target, then trials, then the highest final AUC), so TPE's best pruner is among the 2-at-a-time runs."""
    p1 = [r for r in runs if int(r["parallel"]) == 1]
    out = ["hpo-bayesian/none", "hpo-bayesian/asha", "optuna-tpe/none", "optuna-tpe/asha"]
    if p1:
        default_cfg = all(getattr(a, k) == v for k, v in DEFAULTS.items())
        target = (a.target if a.target is not None else DEFAULT_TARGET if default_cfg and DEFAULT_TARGET
                  else report.derive_target(p1)[0])
        summary = report.summarize(p1, target)
        for side in ("hpo-bayesian", "optuna-tpe"):
            cands = [k for k, s in summary.items() if s["method"].startswith(side + "/")]
            if cands:
                best = min(cands, key=lambda k: (summary[k]["steps_to_target"]["median"],
                                                 summary[k]["trials_to_target"]["median"],
                                                 -summary[k]["best_auc_at_1"]["median"]))
                if summary[best]["method"] not in out:
                    out.append(summary[best]["method"])
    return [m for m in out if m in methods]


def one_run(job: Dict[str, Any]) -> Dict[str, Any]:
    from .runner import run_hpo, run_optuna
    p: Problem = job["problem"]
    side, pruner = job["method"].split("/")
    t = time.time()
    try:
        if side == "hpo-bayesian":
            r = run_hpo(p, job["bin"], pruner, job["seed"], job["parallel"], job["budget_steps"], job["trial_cap"],
                        job["workdir"])
        else:
            r = run_optuna(p, job["bin"], side.split("-", 1)[1], pruner, job["seed"], job["parallel"],
                           job["budget_steps"], job["trial_cap"])
    except Exception:  # noqa: BLE001 - one failed run is reported, the others go on
        r = {"side": side, "pruner": pruner, "seed": job["seed"], "parallel": job["parallel"],
             "budget_steps": job["budget_steps"], "trials": [], "wall_s": round(time.time() - t, 1),
             "errors": [traceback.format_exc()]}
    return r


def equivalence(runs: List[Dict[str, Any]], defaults: Dict[str, Any]) -> Dict[str, Any]:
    """Both sides' first trial is the spec's default assignment with the same trainer seed: its AUC must be
    the same whether hpo-worker's embedded trainer or dlrm-train computed it."""
    def default_auc(r):
        for t in r["trials"]:
            if t["state"] == "COMPLETED" and all(
                    (abs(float(t["params"].get(k, math.nan)) - float(v)) < 1e-12 if not isinstance(v, str)
                     else t["params"].get(k) == v) for k, v in defaults.items()):
                return t["auc"]
        return None
    hpo: Dict[int, float] = {}
    opt: Dict[int, float] = {}
    for r in runs:  # the first run of a seed where the default trial completed (it may be pruned 2 at a time)
        side = hpo if r["side"].startswith("hpo") else opt
        v = default_auc(r)
        if v is not None:
            side.setdefault(r["seed"], v)
    pairs = [(s, hpo[s], opt[s]) for s in hpo if s in opt and hpo[s] is not None and opt[s] is not None]
    return {"pairs": len(pairs), "max_abs_diff": max((abs(a - b) for _s, a, b in pairs), default=None),
            "per_seed": {str(s): [a, b] for s, a, b in pairs}}


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        m = re.search(r"Model name:\s*(.+)", out)
        return f"{m.group(1).strip() if m else platform.processor()}, {os.cpu_count()} CPUs"
    except OSError:
        return f"{platform.processor()}, {os.cpu_count()} CPUs"


def build_meta(a, problem: Problem, data: Dict[str, Any], prov: Dict[str, Any], target: float,
               target_how: str, methods: List[str], runs: List[Dict[str, Any]], eq: Dict[str, Any],
               wall_s: float) -> Dict[str, Any]:
    import optuna
    T, E = problem.max_steps, problem.eval_every
    seeds = sorted({r["seed"] for r in runs})
    pr = "; ".join(f"{n}: {problem.pruner_text(n)}" for n in PRUNERS if n != "none")
    eqs = (f"{eq['pairs']} seed pairs, max |Δ AUC| {eq['max_abs_diff']:.2g}" if eq["pairs"]
           else "no pair (no run of both sides)")
    setup = "\n".join([
        f"- **Command**: `{a.command}`" if a.command else "",
        f"- **Binaries**: {prov.get('describe', '?')}; Optuna {optuna.__version__}; {cpu_model()}; "
        f"total wall time {wall_s / 60:.1f} min (machine shared, `nice -n {os.environ.get('NICE', '10')}`).",
        f"- **Problem**: the quick start's DLRM space (deploy/examples/dlrm.yaml) with step parameters scaled "
        f"to {T}-step trials: {problem.describe()}"
        + (f"; left out (dlrm-train has no flag for it; the trainer default applies on both sides): "
           f"{', '.join(problem.dropped)}" if problem.dropped else "") + ".",
        f"- **Trainer**: the quick start's model (D=16, bottom 64-16, top 64-1), batch {problem.batch_size}, "
        f"{T} steps per full trial, evaluation every {E} steps on {a.test_examples} held-out examples, 1 thread; "
        f"trainer seed {TRAINER_SEED} for every trial of every run on both sides (seeds vary the optimizers only). "
        f"Data: `dlrm-datagen` "
        f"{a.train_examples} train / {a.test_examples} test examples, table scale {a.table_scale}, seed "
        f"{a.data_seed}; Bayes-optimal test AUC {data.get('bayes_auc')}.",
        f"- **Sides**: hpo = hpo-server + {{1, 2}} hpo-worker processes (embedded trainer), experiment created "
        f"with `hpo-cli create -f`, optimizer `bayesian`; Optuna = TPESampler(seed) or RandomSampler(seed), "
        f"in-memory study, {{1, 2}} threads each running `dlrm-train` as a subprocess and reporting each "
        f"evaluation (trial.report / should_prune); both start with the spec's default assignment. Same "
        f"trainer options, data and seeds; embedded trainer = dlrm-train checked on every seed's default "
        f"trial ({eqs}).",
        f"- **Pruners**: {pr}.",
        f"- **Budget**: {a.budget} full-trial equivalents = {a.budget * T} training steps per run, counted "
        f"identically on both sides (steps actually trained by finished trials, pruned and diverged ones "
        f"included; a trial still running at the budget is dropped); seeds {', '.join(map(str, seeds))}.",
        f"- **Target AUC {target:.3f}**: {target_how}.",
    ])
    return {"title": a.title, "setup_md": "\n".join(x for x in setup.split("\n") if x), "target": target,
            "max_steps": T, "eval_every": E, "budget_steps": a.budget * T, "seeds": len(seeds),
            "plot_title": f"DLRM tuning, real trainer: hpo vs Optuna 3.1 ({a.budget} full trials of {T} steps "
                          f"per run, target {target:.3f})"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", help="hpo-server, hpo-worker, hpo-cli, dlrm-train, dlrm-datagen")
    ap.add_argument("--provenance", default="", help="JSON file describing the binaries (run.sh writes it)")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--name", default="latest", help="results/<name>.{md,json}")
    ap.add_argument("--plot", default="", help="PNG path for the plot (default <out-dir>/<name>.png)")
    ap.add_argument("--seeds", default="5")
    ap.add_argument("--budget", type=int, default=DEFAULTS["budget"], help="full-trial equivalents per run")
    ap.add_argument("--max-steps", type=int, default=DEFAULTS["max_steps"])
    ap.add_argument("--eval-every", type=int, default=DEFAULTS["eval_every"])
    ap.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    ap.add_argument("--train-examples", type=int, default=DEFAULTS["train_examples"])
    ap.add_argument("--test-examples", type=int, default=DEFAULTS["test_examples"])
    ap.add_argument("--table-scale", type=float, default=DEFAULTS["table_scale"])
    ap.add_argument("--data-seed", type=int, default=DEFAULTS["data_seed"])
    ap.add_argument("--methods", default=",".join(ALL_METHODS))
    ap.add_argument("--parallel", default="1,2", help="trials at a time (1 and/or 2)")
    ap.add_argument("--parallel2-methods", default="auto",
                    help="methods run 2 at a time; auto: no pruner, ASHA (the quick start's) and the best pruner "
                         "at 1 at a time, for hpo and for TPE (chosen once the 1-at-a-time runs are done)")
    ap.add_argument("--jobs", type=int, default=2, help="runs of 1 trial at a time side by side")
    ap.add_argument("--target", type=float, default=None)
    ap.add_argument("--workdir", default="")
    ap.add_argument("--merge", default="", help="earlier results JSON whose runs are kept unless redone")
    ap.add_argument("--report-only", default="", help="re-render an existing results JSON")
    ap.add_argument("--title", default="End-to-end DLRM tuning: hpo vs Optuna 3.1 (real trainer)")
    ap.add_argument("--command", default="", help="the command line, for the report")
    a = ap.parse_args(argv)
    os.makedirs(a.out_dir, exist_ok=True)
    out_json = os.path.join(a.out_dir, f"{a.name}.json")

    if a.report_only:
        with open(a.report_only) as fh:
            doc = json.load(fh)
        return render(doc, a, out_json)

    if not a.bin:
        ap.error("--bin is required")
    prov = {}
    if a.provenance:
        with open(a.provenance) as fh:
            prov = json.load(fh)
    workdir = a.workdir or tempfile.mkdtemp(prefix="tunebench-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    os.makedirs(workdir, exist_ok=True)
    t_start = time.time()
    data = gen_data(a.bin, workdir, a)
    flags = dlrm_train_flags(os.path.join(a.bin, "dlrm-train"))
    problem = Problem(max_steps=a.max_steps, eval_every=a.eval_every, batch_size=a.batch_size,
                      train_path=data["train_path"], test_path=data["test_path"], trainer_flags=flags)
    methods = [m for m in a.methods.split(",") if m]
    pars = [int(x) for x in a.parallel.split(",") if x]
    seeds = parse_seeds(a.seeds)
    budget_steps = a.budget * a.max_steps
    trial_cap = a.budget * max(1, a.max_steps // a.eval_every) + 10  # never binds: every trial trains >= 1 eval
    doc: Dict[str, Any] = {
        "config": {k: getattr(a, k) for k in ("budget", "max_steps", "eval_every", "batch_size", "train_examples",
                                              "test_examples", "table_scale", "data_seed")},
        "provenance": prov, "data": {k: v for k, v in data.items() if not k.endswith("_path")},
        "problem": {"space": problem.space, "dropped": problem.dropped, "defaults": problem.defaults(),
                    "fixed": {k: v for k, v in problem.fixed.items() if not k.endswith("_path")}},
        "runs": []}
    wall_before = 0.0
    if a.merge and os.path.exists(a.merge):
        with open(a.merge) as fh:
            old = json.load(fh)
        doc["runs"], wall_before = old["runs"], float(old.get("wall_s") or 0)

    def make_jobs(par: int, ms: List[str]) -> List[Dict[str, Any]]:
        """Jobs of one mode; merged runs they redo are dropped."""
        out = []
        for seed in seeds:
            for m in ms:
                side, pruner = m.split("/")
                doc["runs"] = [r for r in doc["runs"] if not (
                    r["side"] == side and r["pruner"] == pruner and r["seed"] == seed and r["parallel"] == par)]
                out.append({"problem": problem, "bin": a.bin, "method": m, "seed": seed, "parallel": par,
                            "budget_steps": budget_steps, "trial_cap": trial_cap, "workdir": workdir})
        return out

    def save():
        doc["wall_s"] = round(wall_before + time.time() - t_start, 1)
        with open(out_json + ".partial", "w") as fh:
            json.dump(doc, fh)

    ctx = mp.get_context("spawn")
    m2 = None if a.parallel2_methods == "auto" else [m for m in a.parallel2_methods.split(",") if m]
    jobs1 = make_jobs(1, methods) if 1 in pars else []
    total = len(jobs1) + (len(m2) * len(seeds) if m2 is not None and 2 in pars else 0)
    done = 0
    for par, width in ((1, max(1, a.jobs)), (2, max(1, a.jobs // 2))):
        if par not in pars:
            continue
        if par == 1:
            jobs = jobs1
        else:
            if m2 is None:
                m2 = auto_parallel2(doc["runs"], a, methods)
                print(f"2 at a time: {', '.join(m2)}", flush=True)
                total += len(m2) * len(seeds)
            jobs = make_jobs(2, m2)
        if not jobs:
            continue
        with cf.ProcessPoolExecutor(max_workers=width, mp_context=ctx) as ex:
            futs = {ex.submit(one_run, j): j for j in jobs}
            for f in cf.as_completed(futs):
                r = f.result()
                doc["runs"].append(r)
                done += 1
                tr = report.trace(r)
                best = tr[-1][2] if tr else None
                print(f"[{done}/{total} {time.time() - t_start:6.0f}s] p{r['parallel']} {r['side']}/{r['pruner']} "
                      f"seed {r['seed']}: {len(tr)} trials, {tr[-1][0] if tr else 0} steps, best AUC "
                      f"{best if best is None else round(best, 5)}, {r['wall_s']}s"
                      + (f" ERRORS {r['errors']}" if r["errors"] else ""), flush=True)
                save()
    doc["wall_s"] = round(wall_before + time.time() - t_start, 1)
    doc["cpu"] = cpu_model()
    try:
        import optuna
        doc["optuna"] = optuna.__version__
    except ImportError:
        pass
    if not a.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    rc = render(doc, a, out_json)
    if os.path.exists(out_json + ".partial"):
        os.remove(out_json + ".partial")
    return rc


def _finite(x):
    """Standard JSON: infinities (never reached) and NaNs become null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def write_json(path: str, doc: Dict[str, Any]) -> None:
    """Indented, except each run on one line (thousands of trials)."""
    d = _finite(doc)
    runs = d.pop("runs", [])
    head = json.dumps(d, indent=1)
    body = ",\n".join("  " + json.dumps(r, separators=(",", ":")) for r in runs)
    with open(path, "w") as fh:
        fh.write(head[:-2] + ',\n "runs": [\n' + body + "\n ]\n}\n")


def render(doc: Dict[str, Any], a, out_json: str) -> int:
    runs = doc["runs"]
    cfg = doc["config"]
    data = doc.get("data", {})
    problem = Problem.__new__(Problem)  # only its describing parts, rebuilt from the JSON
    problem.space, problem.dropped = doc["problem"]["space"], doc["problem"]["dropped"]
    problem.max_steps, problem.eval_every, problem.batch_size = cfg["max_steps"], cfg["eval_every"], cfg["batch_size"]
    default_cfg = all(cfg.get(k) == v for k, v in DEFAULTS.items())
    target = a.target
    derived, info = report.derive_target(runs)
    if target is None and default_cfg and DEFAULT_TARGET is not None:
        target = DEFAULT_TARGET
        how = (f"fixed for this configuration from the first full run by the rule below; on this run the rule "
               f"gives {derived:.3f}")
    elif target is None:
        target = derived
        how = "derived from this run by the rule below"
    else:
        how = f"given (`--target`); on this run the rule gives {derived:.3f}"
    how += (f". Rule: {report.RULE_TEXT} (here the highest median is "
            f"{report.method_name(info['top_key'].split(':', 1)[1])}, {info['top_key'].split(':')[0][1:]} at a "
            f"time: {info['top']:.4f})")
    doc["target"] = target
    summary = report.summarize(runs, target)
    eq = equivalence(runs, doc["problem"]["defaults"])
    a.budget, a.test_examples, a.train_examples = cfg["budget"], cfg["test_examples"], cfg["train_examples"]
    a.table_scale, a.data_seed = cfg["table_scale"], cfg["data_seed"]
    if not a.command:
        a.command = doc.get("command", "")
    doc["command"] = a.command
    meta = build_meta(a, problem, data, doc.get("provenance", {}), target, how, [], runs, eq, doc.get("wall_s", 0))
    failed_runs = [f"p{r['parallel']} {r['side']}/{r['pruner']} seed {r['seed']}: {r['errors'][-1][-300:]}"
                   for r in runs if r.get("errors")]
    if failed_runs:
        meta["notes_md"] = "**Runs with errors**:\n\n" + "\n".join(f"- {x}" for x in failed_runs)
    meta["bands"] = {p: [k.split(":", 1)[1] for k in (report.side_best(summary, p, "hpo-bayesian"),
                                                         report.side_best(summary, p, "optuna-tpe")) if k]
                     for p in sorted({s["parallel"] for s in summary.values()})}
    grid = [round(target + 0.001 * i, 3) for i in range(-4, 2)]
    meta["sensitivity_md"] = report.sensitivity(runs, grid, cfg["max_steps"])
    md = report.markdown(summary, meta)
    doc["summary"] = summary
    doc["targets"] = {f"p{p}": report.targets(summary, p) for p in sorted({s["parallel"] for s in summary.values()})}
    doc["tpe_best"] = {f"p{p}": report.tpe_best(summary, p) for p in sorted({s["parallel"] for s in summary.values()})}
    doc["equivalence"] = eq
    write_json(out_json, doc)
    with open(out_json[:-5] + ".md", "w") as fh:
        fh.write(md)
    plot_path = a.plot or out_json[:-5] + ".png"
    try:
        report.plot(runs, meta, plot_path)
        print(f"plot: {plot_path}")
    except ImportError as e:
        print(f"no plot ({e}): apt-get install python3-matplotlib", file=sys.stderr)
    print(md)
    print(f"results: {out_json[:-5]}.{{md,json}}")
    return 1 if failed_runs or not runs else 0


if __name__ == "__main__":
    sys.exit(main())
