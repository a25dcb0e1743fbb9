"""Real DLRM pruning benchmark (small): hpo-server + hpo-worker (embedded trainer) vs Optuna 3.1 driving
``dlrm-train``, same search space, same synthetic data and training seed, same trial budget.

hpo side: one experiment (optimizer ``bayesian``, pruner none or ``successive_halving {}``), its
``training`` spec maps ``learning_rate``, ``warmup_steps`` and ``optimizer`` and fixes the rest; one
``hpo-worker --threads 1 --max_trials N`` runs the trials.  Optuna side: TPESampler + NopPruner or
SuccessiveHalvingPruner(); each trial runs ``dlrm-train`` with the same options, its per-eval lines
(``step N ... eval_auc X``) are reported, and the process is killed on a prune decision.
Reported: total training steps (a pruned trial counts up to its stop step) and best AUC of a completed
trial (held-out eval AUC of the synthetic data; its Bayes-optimal AUC is printed by dlrm-train).
``train_subprocess`` and ``list_trials`` are shared with the end-to-end benchmark (tests/bench/tuning).

    python3 -m prunebench.dlrm --bin build-prune-torch/bin --server build-prune/bin/hpo-server \
        --seeds 2 --trials 16 --out-json results/dlrm.json --out-md results/dlrm.md
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import uuid
from typing import Any, Callable, Dict, List, Optional

from hpobench.common import derive_seed, parse_seeds, quantiles

# training seed fixed and nonzero: hpo-worker replaces seed 0 by the suggestion id (worker/trial_config.cc)
MAX_STEPS = 1500
EVAL_EVERY = 150
FIXED = {"batch_size": "256", "embedding_dim": "16", "bottom_mlp": "64-16", "top_mlp": "64-1",
         "synthetic_test_examples": "16384", "synthetic_seed": "1", "seed": "1", "threads": "1"}
# trainer option -> dlrm-train flag (where the names differ)
FLAG = {"learning_rate": "lr"}
SPACE = [("learning_rate", "double", 0.001, 3.0, True), ("warmup_steps", "int", 0, 500, False),
         ("optimizer", "categorical", ["sgd", "adagrad"], None, False)]
STEP_RE = re.compile(r"^step\s+(\d+)\s.*eval_auc\s+([0-9.]+)")


DIVERGED_RE = re.compile(r"at step (\d+)")


def train_subprocess(argv: List[str], on_eval: Callable[[int, float], bool],
                     env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """Runs ``dlrm-train`` (an argv list, never a shell string) and calls ``on_eval(step, auc)`` at each of its
    evaluation lines; a true answer kills the process (a prune: it has trained up to that step, as an
    hpo-worker told to stop). Also used by tests/bench/tuning.

    Returns last_step / auc (the last evaluation, 5 decimals), final_auc (a completed run's AUC to 9 digits,
    from ``--json``), pruned, failed (nonzero exit or no evaluation, when not pruned), steps (steps trained: the stop step, the divergence step, or the last evaluation's), reason
    (the summary line of a failed run), bayes_auc (from ``--json``) and returncode."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env=env)
    last_step, last_auc, pruned, bayes, exact, summary, tail = 0, None, False, None, None, "", []
    try:
        for line in proc.stdout:
            tail = (tail + [line])[-5:]
            m = STEP_RE.match(line.strip())
            if m:
                last_step, last_auc = int(m.group(1)), float(m.group(2))
                if on_eval(last_step, last_auc):
                    proc.kill()
                    pruned = True
                    break
            elif line.startswith("summary:"):
                summary = line.strip()
            elif line.startswith("{"):
                try:
                    js = json.loads(line)
                    bayes, exact = js.get("bayes_auc", bayes), js.get("eval_auc_exact", exact)
                except ValueError:
                    pass
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    proc.wait()
    proc.stdout.close()
    failed = (not pruned) and (proc.returncode != 0 or last_auc is None)
    steps = last_step
    if failed:
        d = DIVERGED_RE.search(summary)
        steps = int(d.group(1)) if d else last_step
    return {"last_step": last_step, "auc": last_auc, "pruned": pruned, "failed": failed, "steps": steps,
            "final_auc": exact if not (pruned or failed) else None,
            "reason": (summary or "".join(tail).strip()) if failed else "", "bayes_auc": bayes,
            "returncode": proc.returncode}


def _pages(call, request, field: str) -> list:
    out = []
    while True:
        r = call(request, timeout=60)
        out += list(getattr(r, field))
        if not r.next_page_token:
            return out
        request.page_token = r.next_page_token


def list_trials(server, experiment_id: int, metric: str = "auc", checkpoints: bool = False) -> List[Dict[str, Any]]:
    """Every suggestion of an experiment with its observation: id, state, source, pruned, failed, auc (``metric`` of a
    non-failed observation: a pruned trial's value at its stop step), stop_step, stop_reason, failure_reason,
    metadata, finish_time (the observation's create time, seconds), params; with ``checkpoints`` also
    last_checkpoint (the highest reported step; one ListCheckpoints call per suggestion)."""
    from .hpo import pb
    m = pb()
    e_pb, es = m.experiment_pb2, m.experiment_service_pb2
    sugg = _pages(server.exp.ListSuggestions, es.ListSuggestionsRequest(experiment_id=experiment_id), "suggestions")
    obs = {o.suggestion_id: o for o in _pages(server.exp.ListObservations,
                                              es.ListObservationsRequest(experiment_id=experiment_id),
                                              "observations")}
    out = []
    for s in sugg:
        o = obs.get(s.id)
        params = {}
        for k, v in s.assignment.values.items():
            kind = v.WhichOneof("kind")
            params[k] = getattr(v, kind) if kind else None
        x = {"id": s.id, "state": e_pb.SuggestionState.Name(s.state), "source": s.source,
             "pruned": s.state == e_pb.SUGGESTION_STATE_PRUNED, "failed": bool(o and o.failed),
             "auc": next((v.value for v in o.values if v.name == metric), None) if o and not o.failed else None,
             "stop_step": int(s.stop_step), "stop_reason": s.stop_reason,
             "failure_reason": o.failure_reason if o else "", "metadata": dict(o.metadata) if o else {},
             "finish_time": o.create_time.seconds + o.create_time.nanos * 1e-9 if o else None, "params": params}
        if checkpoints:
            cps = _pages(server.exp.ListCheckpoints,
                         es.ListCheckpointsRequest(experiment_id=experiment_id, suggestion_id=s.id), "checkpoints")
            x["last_checkpoint"] = max([c.step for c in cps] or [0])
        out.append(x)
    return out


def dlrm_args(params: Dict[str, Any]) -> List[str]:
    opts = dict(FIXED)
    opts.update({k: str(v) for k, v in params.items()})
    opts.update({"max_steps": str(MAX_STEPS), "eval_every": str(EVAL_EVERY)})
    return [f"--{FLAG.get(k, k)}={v}" for k, v in opts.items()]


def run_optuna(bin_dir: str, pruner: str, seed: int, n_trials: int) -> Dict[str, Any]:
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pr = optuna.pruners.SuccessiveHalvingPruner() if pruner == "asha" else optuna.pruners.NopPruner()
    study = optuna.create_study(direction="maximize", pruner=pr,
                                sampler=optuna.samplers.TPESampler(seed=derive_seed("dlrm-optuna", seed)))
    steps, trials, bayes = 0, [], None
    t0 = time.time()
    for _ in range(n_trials):
        t = study.ask()
        params = {"learning_rate": t.suggest_float("learning_rate", 0.001, 3.0, log=True),
                  "warmup_steps": t.suggest_int("warmup_steps", 0, 500),
                  "optimizer": t.suggest_categorical("optimizer", ["sgd", "adagrad"])}

        def on_eval(step: int, auc: float) -> bool:
            t.report(auc, step)
            return step < MAX_STEPS and t.should_prune()

        r = train_subprocess([os.path.join(bin_dir, "dlrm-train"), "--json"] + dlrm_args(params), on_eval)
        bayes = r["bayes_auc"] if r["bayes_auc"] is not None else bayes
        if r["pruned"]:
            study.tell(t, state=optuna.trial.TrialState.PRUNED)
        elif r["failed"]:
            study.tell(t, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(t, r["auc"])
        steps += r["last_step"]
        trials.append({"params": params, "steps": r["last_step"], "auc": r["auc"], "pruned": r["pruned"],
                       "failed": r["failed"]})
    done = [x["auc"] for x in trials if not x["pruned"] and not x["failed"]]
    return {"side": "optuna-tpe", "pruner": pruner, "seed": seed, "steps": steps, "full_steps": n_trials * MAX_STEPS,
            "best_auc": max(done) if done else None, "n_complete": len(done), "bayes_auc": bayes,
            "trials": trials, "wall_s": round(time.time() - t0, 1)}


def run_hpo(bin_dir: str, server_bin: str, pruner: str, seed: int, n_trials: int, workdir: str) -> Dict[str, Any]:
    from .hpo import HpoServer, pb
    m = pb()
    e_pb, ss, es = m.experiment_pb2, m.search_space_pb2, m.experiment_service_pb2
    server = HpoServer(server_bin, os.path.join(workdir, f"dlrm-{pruner}-{seed}-{uuid.uuid4().hex[:6]}")).start()
    t0 = time.time()
    try:
        e = e_pb.Experiment(name=f"dlrm-{pruner}-{seed}", project="bench-pruning", observation_budget=n_trials,
                            parallel_bandwidth=1)
        for name, typ, lo, hi, log in SPACE:
            q = e.search_space.parameters.add(name=name)
            if typ == "categorical":
                q.type = ss.PARAMETER_TYPE_CATEGORICAL
                q.categorical_values.extend(lo)
            else:
                q.type = ss.PARAMETER_TYPE_DOUBLE if typ == "double" else ss.PARAMETER_TYPE_INT
                q.bounds.min, q.bounds.max = float(lo), float(hi)
                if log:
                    q.transformation = ss.TRANSFORMATION_LOG
        e.metrics.add(name="auc", strategy=e_pb.METRIC_STRATEGY_OPTIMIZE, objective=e_pb.OBJECTIVE_MAXIMIZE)
        e.optimizer.algorithm = "bayesian"
        e.optimizer.seed = derive_seed("dlrm-hpo", seed)
        if pruner == "asha":
            e.pruner.successive_halving.SetInParent()
        e.training.max_steps = MAX_STEPS
        e.training.eval_every_steps = EVAL_EVERY
        for k, _t, *_ in SPACE:
            e.training.parameter_mapping[k] = k
        for k, v in FIXED.items():
            e.training.fixed_options[k] = v
        exp = server.exp.CreateExperiment(es.CreateExperimentRequest(experiment=e), timeout=60).experiment
        log = open(os.path.join(server.workdir, "worker.log"), "wb")
        w = subprocess.run([os.path.join(bin_dir, "hpo-worker"), "--server", server.address, "--experiment",
                            str(exp.id), "--threads", "1", "--max_trials", str(n_trials), "--log_level", "warning"],
                           stdout=log, stderr=subprocess.STDOUT, timeout=3600)
        trials = []
        for x in list_trials(server, exp.id, checkpoints=True):
            st = x["stop_step"] if x["pruned"] and x["stop_step"] else x["last_checkpoint"]
            trials.append({"id": x["id"], "state": x["state"], "steps": int(st),
                           "auc": None if x["failed"] else x["auc"], "pruned": x["pruned"], "failed": x["failed"],
                           "stop_reason": x["stop_reason"]})
        done = [x["auc"] for x in trials if not x["pruned"] and not x["failed"] and x["auc"] is not None]
        return {"side": "hpo-bayesian", "pruner": pruner, "seed": seed, "steps": sum(x["steps"] for x in trials),
                "full_steps": n_trials * MAX_STEPS, "best_auc": max(done) if done else None,
                "n_complete": len(done), "worker_rc": w.returncode, "trials": trials,
                "wall_s": round(time.time() - t0, 1)}
    finally:
        server.stop()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="dir with hpo-worker and dlrm-train (LibTorch build)")
    ap.add_argument("--server", required=True)
    ap.add_argument("--seeds", default="2", help="N, A-B or comma list")
    ap.add_argument("--merge", default="", help="comma-separated earlier JSON files whose runs are added")
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--pruners", default="none,asha")
    ap.add_argument("--sides", default="hpo-bayesian,optuna-tpe")
    ap.add_argument("--workdir", default=os.environ.get("PRUNEBENCH_WORKDIR", "/tmp"))
    ap.add_argument("--out-json", required=True)
    ap.add_argument("--out-md")
    a = ap.parse_args(argv)
    runs = []
    for path in filter(None, a.merge.split(",")):
        with open(path) as fh:
            runs += json.load(fh)["runs"]
    for seed in (parse_seeds(a.seeds) if a.seeds != "none" else []):
        for pr in a.pruners.split(","):
            for side in a.sides.split(","):
                t = time.time()
                r = (run_hpo(a.bin, a.server, pr, seed, a.trials, a.workdir) if side == "hpo-bayesian"
                     else run_optuna(a.bin, pr, seed, a.trials))
                runs.append(r)
                print(f"{side} {pr} seed {seed}: steps {r['steps']} best auc {r['best_auc']} "
                      f"({r['n_complete']} complete, {time.time() - t:.0f}s)", flush=True)
    with open(a.out_json, "w") as fh:
        json.dump({"max_steps": MAX_STEPS, "eval_every": EVAL_EVERY, "fixed": FIXED, "trials": a.trials,
                   "runs": runs}, fh, indent=1)
    if a.out_md:
        bayes = next((r.get("bayes_auc") for r in runs if r.get("bayes_auc")), None)
        lines = [f"## Real DLRM (small): hpo-worker vs Optuna driving dlrm-train\n",
                 f"{a.trials} trials per run, max_steps {MAX_STEPS}, eval every {EVAL_EVERY}, "
                 f"{len({r['seed'] for r in runs})} seeds, fixed options {FIXED}; space: learning_rate [0.001, 3] log, warmup_steps "
                 f"[0, 500], optimizer {{sgd, adagrad}}. hpo: optimizer `bayesian`, pruner none / "
                 f"`successive_halving {{}}`; Optuna: TPESampler + NopPruner / SuccessiveHalvingPruner(). "
                 f"Bayes-optimal AUC of the synthetic data: {bayes}. Medians over seeds (per-seed values "
                 f"in brackets).\n",
                 "| side | pruner | steps (% of no pruning) | completed trials | best AUC | per seed (steps / AUC) |",
                 "|---|---|---|---|---|---|"]
        for side in a.sides.split(","):
            for pr in a.pruners.split(","):
                rs = [r for r in runs if r["side"] == side and r["pruner"] == pr]
                if not rs:
                    continue
                fr = quantiles([r["steps"] / r["full_steps"] for r in rs])["median"]
                ba = quantiles([r["best_auc"] if r["best_auc"] is not None else float("nan") for r in rs])["median"]
                nc = quantiles([r["n_complete"] for r in rs])["median"]
                per = "; ".join(f"{r['steps']} / {r['best_auc']:.4f}" if r["best_auc"] else f"{r['steps']} / —"
                                for r in rs)
                lines.append(f"| {side} | {pr} | {100 * fr:.1f}% | {nc:.0f} | {ba:.4f} | {per} |")
        with open(a.out_md, "w") as fh:
            fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
