"""Tabular real-trainer benchmark: learning curves of the real trainer recorded once for a few hundred
configurations of the end-to-end benchmark's space, then replayed so that optimizer + pruner pairs run
many seeds in minutes.

record: the default assignment plus a scrambled Sobol design over the space (half SGD, half LAMB; log
  scales for the learning rate and weight decay; the linear constraints as in Optuna's define-by-run:
  decay start uniform from the warmup to the end, decay length uniform over what is left), each trained
  once by ``dlrm-train`` with the live benchmark's options, data and seed 0's trainer seed; every
  evaluation's AUC kept (5 decimals, as dlrm-train prints them) and the step a diverged run stopped at.
replay: a suggestion trains as its *nearest recorded configuration* with the same optimizer (Euclidean
  distance in the normalized space: each active numeric parameter mapped to [0, 1] over its bounds, on
  the log scale where the space has one): its recorded curve is reported evaluation by evaluation to the
  pruner, and steps are counted as in the live runs.  hpo side: a real hpo-server through the worker API
  (prunebench's HpoTrialDriver: LeaseTrial, ReportProgress at the recorded steps, CompleteTrial, a failed
  observation for a diverged curve), the experiment created from the same spec as the live runs; Optuna
  side: the same study, sampler, pruner and define-by-run as the live runs. One trial at a time.

    python3 -m tunebench.table record --bin DIR --out data/dlrm_table.json [--n 400] [--jobs 2]
    python3 -m tunebench.table replay --table data/dlrm_table.json --bin DIR --out-dir results [--seeds 20]
        [--live results/latest.json]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import math
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any, Dict, List, Optional

from hpobench.common import parse_seeds

from . import report
from .space import Problem, dlrm_train_flags

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TABLE = os.path.join(HERE, "..", "data", "dlrm_table.json")


# ---------------------------------------------------------------- the space, normalized
def _log(q) -> bool:
    return str(q.get("transformation", "")).lower() in ("log", "transformation_log")


def _active(problem: Problem, params: Dict[str, Any]):
    return [q for q in problem.space["parameters"] if Problem._active(q, params) and q["name"] in params
            and q.get("type", "double") != "categorical"]


def normalize(problem: Problem, params: Dict[str, Any]) -> Dict[str, float]:
    out = {}
    for q in _active(problem, params):
        lo, hi, v = float(q["bounds"]["min"]), float(q["bounds"]["max"]), float(params[q["name"]])
        out[q["name"]] = ((math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo)) if _log(q)
                          else (v - lo) / (hi - lo) if hi > lo else 0.0)
    return out


def design(problem: Problem, n: int, seed: int = 1) -> List[Dict[str, Any]]:
    """The default assignment, then n Sobol points per optimizer value / 2 (scrambled, fixed seed)."""
    from scipy.stats import qmc
    conds = problem.space.get("conditionals", [])
    assert len(conds) == 1, "one conditional (the optimizer) expected"
    cname, cvals = conds[0]["name"], list(conds[0]["values"])
    T = problem.max_steps
    rows = [problem.defaults()]
    for ci, cv in enumerate(cvals):
        qs = [q for q in problem.space["parameters"] if Problem._active(q, {cname: cv})]
        pts = qmc.Sobol(d=len(qs), scramble=True, seed=seed + ci).random(n // len(cvals))
        for u in pts:
            p: Dict[str, Any] = {cname: cv}
            for q, x in zip(qs, u):
                lo, hi = float(q["bounds"]["min"]), float(q["bounds"]["max"])
                name = q["name"]
                # the constraints as dependent ranges (decay start >= warmup, start + length <= T)
                if name == "decay_start_step":
                    lo = max(lo, float(p.get("warmup_steps", 0)))
                if name == "decay_steps":
                    hi = min(hi, T - float(p.get("decay_start_step", 0)))
                v = math.exp(math.log(lo) + x * (math.log(hi) - math.log(lo))) if _log(q) else lo + x * (hi - lo)
                p[name] = int(round(v)) if q.get("type") == "int" else float(v)
            rows.append(p)
    return rows


def record(a) -> int:
    from .bench import DEFAULTS, gen_data
    from prunebench.dlrm import train_subprocess
    from .runner import _env, seeds_for
    ns = argparse.Namespace(**{k: DEFAULTS[k] for k in ("train_examples", "test_examples", "table_scale", "data_seed")})
    workdir = tempfile.mkdtemp(prefix="tunetable-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    data = gen_data(a.bin, workdir, ns)
    problem = Problem(max_steps=DEFAULTS["max_steps"], eval_every=DEFAULTS["eval_every"],
                      batch_size=DEFAULTS["batch_size"], train_path=data["train_path"], test_path=data["test_path"],
                      trainer_flags=dlrm_train_flags(os.path.join(a.bin, "dlrm-train")))
    trainer_seed = seeds_for(0)["trainer"]
    configs = design(problem, a.n)
    dlrm = os.path.join(a.bin, "dlrm-train")
    env = _env()
    t0 = time.time()

    def one(p):
        curve: List[float] = []

        def keep(_step: int, auc: float) -> bool:
            curve.append(round(auc, 5))
            return False  # never stop: the whole curve is recorded

        r = train_subprocess(problem.dlrm_argv(dlrm, p, trainer_seed), keep, env=env)
        return {"params": p, "curve": curve, "diverged_step": r["steps"] if r["failed"] else None,
                "reason": r["reason"][-200:] if r["failed"] else ""}

    rows = []
    with cf.ThreadPoolExecutor(max_workers=a.jobs) as ex:
        for i, row in enumerate(ex.map(one, configs), 1):
            rows.append(row)
            if i % 25 == 0:
                print(f"  {i}/{len(configs)} configurations, {time.time() - t0:.0f}s", flush=True)
    params = sorted({k for r in rows for k in r["params"]})
    doc = {"version": 1, "max_steps": problem.max_steps, "eval_every": problem.eval_every,
           "batch_size": problem.batch_size, "trainer_seed": trainer_seed,
           "data": {**ns.__dict__, "bayes_auc": data["bayes_auc"]}, "space": problem.space,
           "dropped": problem.dropped, "defaults": problem.defaults(), "params": params,
           "recorded_with": a.provenance, "record_seconds": round(time.time() - t0),
           "rows": [[r["params"].get(k) for k in params] + [r["diverged_step"], r["curve"]] for r in rows]}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as fh:
        json.dump(doc, fh, separators=(",", ":"))
        fh.write("\n")
    div = sum(1 for r in rows if r["diverged_step"] is not None)
    best = max((r["curve"][-1] for r in rows if r["diverged_step"] is None and r["curve"]), default=None)
    print(f"wrote {a.out}: {len(rows)} configurations ({div} diverged), best final AUC {best}, "
          f"{time.time() - t0:.0f}s")
    subprocess.run(["rm", "-rf", workdir])
    return 0


# ---------------------------------------------------------------- replay
class Table:
    def __init__(self, path: str):
        with open(path) as fh:
            doc = json.load(fh)
        self.doc = doc
        self.problem = Problem(max_steps=doc["max_steps"], eval_every=doc["eval_every"],
                               batch_size=doc["batch_size"], train_path="", test_path="", dropped=doc["dropped"])
        if self.problem.space != doc["space"]:
            print("warning: the quick start's space changed since the table was recorded; replaying the "
                  "recorded space", file=sys.stderr)
            self.problem.space = doc["space"]
        names = doc["params"]
        self.rows = []
        for r in doc["rows"]:
            params = {k: v for k, v in zip(names, r[:len(names)]) if v is not None}
            self.rows.append({"params": params, "norm": normalize(self.problem, params),
                              "diverged": r[len(names)], "curve": r[len(names) + 1]})
        cname = doc["space"]["conditionals"][0]["name"]
        self.by_cond: Dict[str, List[Dict[str, Any]]] = {}
        for row in self.rows:
            self.by_cond.setdefault(row["params"][cname], []).append(row)
        self.cname = cname

    def nearest(self, params: Dict[str, Any]) -> Dict[str, Any]:
        x = normalize(self.problem, params)
        pool = self.by_cond[params[self.cname]]
        return min(pool, key=lambda r: sum((x[k] - r["norm"].get(k, 0.0)) ** 2 for k in x))

    def steps(self, n: int) -> List[int]:
        E, T = self.problem.eval_every, self.problem.max_steps
        return [min(E * i, T) for i in range(1, n + 1)]


def _optuna_run(table: Table, sampler: str, pruner: str, seed: int, budget: int) -> Dict[str, Any]:
    import optuna
    from .runner import seeds_for
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sd = seeds_for(seed)
    p = table.problem
    smp = (optuna.samplers.TPESampler(seed=sd["optuna"]) if sampler == "tpe"
           else optuna.samplers.RandomSampler(seed=sd["optuna"]))
    study = optuna.create_study(direction="maximize", sampler=smp, pruner=p.optuna_pruner(pruner))
    study.enqueue_trial(p.defaults())
    trials, cum, t0 = [], 0, time.time()
    while cum < budget and len(trials) < 10 * budget // p.eval_every:
        t = study.ask()
        params = p.suggest_optuna(t)
        row = table.nearest(params)
        steps, state, auc = 0, "COMPLETED", None
        for step, v in zip(table.steps(len(row["curve"])), row["curve"]):
            t.report(v, step)
            steps, auc = step, v
            if step < p.max_steps and t.should_prune():
                state = "PRUNED"
                break
        if state != "PRUNED" and row["diverged"] is not None:
            state, steps = "FAILED", int(row["diverged"])
        if state == "PRUNED":
            study.tell(t, state=optuna.trial.TrialState.PRUNED)
        elif state == "FAILED":
            study.tell(t, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(t, auc)
        cum += steps
        trials.append({"n": t.number, "finish": len(trials), "steps": steps, "state": state, "auc": auc,
                       "params": params})
    return {"side": f"optuna-{sampler}", "pruner": pruner, "seed": seed, "parallel": 1, "budget_steps": budget,
            "trials": trials, "wall_s": round(time.time() - t0, 1), "errors": []}


def _hpo_run(table: Table, bin_dir: str, pruner: str, seed: int, budget: int) -> Dict[str, Any]:
    import yaml
    from prunebench.hpo import HpoTrialDriver, pb, shared_server
    from .runner import seeds_for
    sd = seeds_for(seed)
    p = table.problem
    server = shared_server(os.path.join(bin_dir, "hpo-server"))
    spec = p.hpo_spec(name=f"replay-{pruner}-s{seed}-{os.getpid()}-{time.time_ns()}", pruner=pruner, seed=sd["hpo"],
                      trainer_seed=sd["trainer"], parallel=1, trial_cap=10 * budget // p.eval_every)
    spec_path = os.path.join(server.workdir, f"spec-{os.getpid()}.yaml")
    with open(spec_path, "w") as fh:
        yaml.safe_dump(spec, fh, sort_keys=False)
    out = subprocess.run([os.path.join(bin_dir, "hpo-cli"), "--server", server.address, "--json", "create", "-f",
                          spec_path], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"hpo-cli create: {out.stdout} {out.stderr}")
    exp_id = int(json.loads(out.stdout)["experiment"]["id"])
    es = pb().experiment_service_pb2
    exp = server.exp.GetExperiment(es.GetExperimentRequest(experiment_id=exp_id), timeout=60).experiment
    drv = HpoTrialDriver(None, metric="auc", server=server, experiment=exp)
    trials, cum, t0 = [], 0, time.time()
    while cum < budget and len(trials) < 10 * budget // p.eval_every:
        sid, params = drv.lease()
        row = table.nearest(params)
        curve = row["curve"]
        st = table.steps(len(curve))
        used, stopped = (drv.train(sid, curve, steps=st, last_step=p.max_steps) if curve else (0, False))
        if stopped:
            auc = curve[st.index(used)]
            drv.complete(sid, auc)
            state, steps = "PRUNED", used
        elif row["diverged"] is not None:
            drv.complete(sid, None, f"diverged: training loss is nan at step {row['diverged']}")
            state, steps, auc = "FAILED", int(row["diverged"]), None
        else:
            auc = curve[-1]
            drv.complete(sid, auc)
            state, steps = "COMPLETED", p.max_steps
        cum += steps
        trials.append({"n": sid, "finish": len(trials), "steps": steps, "state": state, "auc": auc, "params": params})
    return {"side": "hpo-bayesian", "pruner": pruner, "seed": seed, "parallel": 1, "budget_steps": budget,
            "trials": trials, "wall_s": round(time.time() - t0, 1), "errors": []}


def _one(job) -> Dict[str, Any]:
    table = Table(job["table"])
    side, pruner = job["method"].split("/")
    try:
        if side == "hpo-bayesian":
            return _hpo_run(table, job["bin"], pruner, job["seed"], job["budget"])
        return _optuna_run(table, side.split("-", 1)[1], pruner, job["seed"], job["budget"])
    except Exception:  # noqa: BLE001
        return {"side": side, "pruner": pruner, "seed": job["seed"], "parallel": 1, "budget_steps": job["budget"],
                "trials": [], "wall_s": 0, "errors": [traceback.format_exc()]}


def _spearman(a: List[float], b: List[float]) -> Optional[float]:
    def ranks(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(v):
            j = i
            while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2.0
            i = j + 1
        return r
    if len(a) < 3:
        return None
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    num = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    den = math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
    return num / den if den else None


def replay(a) -> int:
    from .bench import DEFAULT_TARGET, _finite
    table = Table(a.table)
    T = table.problem.max_steps
    budget = a.budget * T
    methods = [m for m in a.methods.split(",") if m]
    seeds = parse_seeds(a.seeds)
    jobs = [{"table": os.path.abspath(a.table), "bin": a.bin, "method": m, "seed": s, "budget": budget}
            for s in seeds for m in methods]
    t0 = time.time()
    runs = []
    with cf.ProcessPoolExecutor(max_workers=a.jobs, mp_context=mp.get_context("spawn")) as ex:
        for i, r in enumerate(ex.map(_one, jobs), 1):
            runs.append(r)
            if r["errors"]:
                print(f"  {r['side']}/{r['pruner']} seed {r['seed']}: ERROR {r['errors'][-1][-400:]}", flush=True)
            if i % 20 == 0 or i == len(jobs):
                print(f"  {i}/{len(jobs)} runs, {time.time() - t0:.0f}s", flush=True)
    derived, _info = report.derive_target(runs)
    target = a.target if a.target is not None else derived
    summary = report.summarize(runs, target)
    live = None
    if a.live and os.path.exists(a.live):
        with open(a.live) as fh:
            live = json.load(fh)
    L = [f"# Tabular real-trainer benchmark: replay of {len(table.rows)} recorded DLRM learning curves\n",
         f"- **Command**: `{a.command}`" if a.command else "",
         f"- **Table**: `{os.path.relpath(a.table, os.getcwd())}`, {len(table.rows)} configurations of the "
         f"end-to-end benchmark's space ({sum(1 for r in table.rows if r['diverged'] is not None)} diverged), "
         f"{T}-step curves evaluated every {table.problem.eval_every} steps, trainer seed "
         f"{table.doc['trainer_seed']}; best recorded final AUC "
         f"{max(r['curve'][-1] for r in table.rows if r['diverged'] is None and r['curve']):.4f}; recorded with "
         f"{table.doc.get('recorded_with', '?')} in {table.doc.get('record_seconds', '?')} s.",
         "- **Mapping**: a suggestion trains as its nearest recorded configuration with the same optimizer "
         "(Euclidean in the normalized space: numeric parameters to [0, 1] over their bounds, log scale where "
         "the space has one).",
         f"- **Runs**: {len(seeds)} seeds × {len(methods)} methods, one trial at a time, {a.budget} full-trial "
         f"equivalents ({budget} steps) each, steps counted as in the live runs; {time.time() - t0:.0f} s "
         f"wall with {a.jobs} processes.",
         f"- **Target AUC {target:.3f}**: {'given' if a.target is not None else 'the live benchmark rule on this replay'}"
         f" (the rule gives {derived:.3f} here; the live benchmark's fixed target is "
         f"{DEFAULT_TARGET if DEFAULT_TARGET is not None else 'not fixed yet'}).", ""]
    meta = {"title": "", "setup_md": "", "target": target, "max_steps": T, "budget_steps": budget,
            "seeds": len(seeds), "plot_title": ""}
    md = report.markdown(summary, meta).split("\n", 3)[-1]
    L.append(md.replace("## 1 trial at a time", "## Replay, 1 trial at a time"))
    ranking = {}
    if live:
        lsum = report.summarize(live["runs"], live["target"])
        keys = [k for k in summary if k in lsum]
        for metric, fn in (("best AUC at the full budget", lambda s: s["best_auc_at_1"]["median"]),
                           ("best AUC at 1/2 budget", lambda s: s["best_auc_at_0.5"]["median"]),
                           ("steps to target (negated)", lambda s: -min(s["steps_to_target"]["median"], 1e12))):
            rho = _spearman([fn(summary[k]) for k in keys], [fn(lsum[k]) for k in keys])
            ranking[metric] = rho
        L.append("## Does the replay rank methods as the live runs do?\n")
        L.append(f"Against the live end-to-end run (`{os.path.relpath(a.live, os.getcwd())}`, 1 trial at a time, "
                 f"{len({r['seed'] for r in live['runs']})} seeds, its target {live['target']:.3f}), over the "
                 f"{len(keys)} methods both have: Spearman rank correlation of the medians.\n")
        L.append("| metric | Spearman ρ (replay vs live) |")
        L.append("|---|---|")
        for k, v in ranking.items():
            L.append(f"| {k} | {'—' if v is None else f'{v:.2f}'} |")
        L.append("")
        L.append("| method | replay: best AUC at full budget | live | replay: steps to target | live |")
        L.append("|---|---|---|---|---|")
        for k in keys:
            L.append(f"| {report.method_name(summary[k]['method'])} | {summary[k]['best_auc_at_1']['median']:.4f} | "
                     f"{lsum[k]['best_auc_at_1']['median']:.4f} | "
                     f"{report._fmt_q(summary[k]['steps_to_target'], '.1f', T).split(' [')[0]} | "
                     f"{report._fmt_q(lsum[k]['steps_to_target'], '.1f', T).split(' [')[0]} |")
        L.append("")
    os.makedirs(a.out_dir, exist_ok=True)
    md_path = os.path.join(a.out_dir, f"{a.name}.md")
    with open(md_path, "w") as fh:
        fh.write("\n".join(x for x in L if x is not None) + "\n")
    with open(os.path.join(a.out_dir, f"{a.name}.json"), "w") as fh:
        json.dump(_finite({"table": os.path.relpath(a.table, os.getcwd()), "budget": a.budget, "target": target,
                           "summary": summary, "ranking": ranking, "runs": runs}), fh)
    print("\n".join(L))
    return 1 if any(r["errors"] for r in runs) else 0


def main(argv=None) -> int:
    from .bench import ALL_METHODS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--bin", required=True)
    r.add_argument("--out", default=DEFAULT_TABLE)
    r.add_argument("--n", type=int, default=400, help="Sobol points (half per optimizer), plus the default")
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--provenance", default="")
    p = sub.add_parser("replay")
    p.add_argument("--table", default=DEFAULT_TABLE)
    p.add_argument("--bin", required=True, help="hpo-server and hpo-cli")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--name", default="table")
    p.add_argument("--seeds", default="20")
    p.add_argument("--budget", type=int, default=20)
    p.add_argument("--methods", default=",".join(ALL_METHODS))
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--target", type=float, default=None)
    p.add_argument("--live", default="")
    p.add_argument("--command", default="")
    a = ap.parse_args(argv)
    return record(a) if a.cmd == "record" else replay(a)


if __name__ == "__main__":
    sys.exit(main())
