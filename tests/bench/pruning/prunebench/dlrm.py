"""Real DLRM pruning benchmark (small): hpo-server + hpo-worker (embedded trainer) vs Optuna 3.1 driving
``dlrm-train``, same search space, same synthetic data and training seed, same trial budget.

hpo side: one experiment (optimizer ``bayesian``, pruner none or ``successive_halving {}``), its
``training`` spec maps ``learning_rate``, ``warmup_steps`` and ``optimizer`` and fixes the rest; one
``hpo-worker --threads 1 --max_trials N`` runs the trials.  Optuna side: TPESampler + NopPruner or
SuccessiveHalvingPruner(); each trial runs ``dlrm-train`` with the same options, its per-eval lines
(``step N ... eval_auc X``) are reported, and the process is killed on a prune decision.
Reported: total training steps (a pruned trial counts up to its stop step) and best AUC of a completed
trial (held-out eval AUC of the synthetic data; its Bayes-optimal AUC is printed by dlrm-train).

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
from typing import Any, Dict, List, Optional

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
        proc = subprocess.Popen([os.path.join(bin_dir, "dlrm-train"), "--json"] + dlrm_args(params),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        last_step, last_auc, pruned, out_tail = 0, None, False, []
        for line in proc.stdout:
            out_tail = (out_tail + [line])[-5:]
            m = STEP_RE.match(line.strip())
            if m:
                last_step, last_auc = int(m.group(1)), float(m.group(2))
                t.report(last_auc, last_step)
                if last_step < MAX_STEPS and t.should_prune():
                    proc.kill()
                    pruned = True
                    break
            elif line.startswith("{"):
                try:
                    bayes = json.loads(line).get("bayes_auc", bayes)
                except ValueError:
                    pass
        proc.wait()
        if pruned:
            study.tell(t, state=optuna.trial.TrialState.PRUNED)
        elif proc.returncode != 0 or last_auc is None:
            study.tell(t, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(t, last_auc)
        steps += last_step
        trials.append({"params": params, "steps": last_step, "auc": last_auc, "pruned": pruned,
                       "failed": (not pruned) and (proc.returncode != 0 or last_auc is None)})
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
        sugg = server.exp.ListSuggestions(es.ListSuggestionsRequest(experiment_id=exp.id), timeout=60).suggestions
        obs = {o.suggestion_id: o for o in
               server.exp.ListObservations(es.ListObservationsRequest(experiment_id=exp.id), timeout=60).observations}
        last_step: Dict[int, int] = {}
        for sg in sugg:
            cps = server.exp.ListCheckpoints(es.ListCheckpointsRequest(experiment_id=exp.id, suggestion_id=sg.id),
                                             timeout=60).checkpoints
            last_step[sg.id] = max([c.step for c in cps] or [0])
        trials = []
        for s in sugg:
            o = obs.get(s.id)
            pruned = s.state == e_pb.SUGGESTION_STATE_PRUNED
            auc = next((v.value for v in o.values if v.name == "auc"), None) if o and not o.failed else None
            st = s.stop_step if pruned and s.stop_step else last_step.get(s.id, 0)
            trials.append({"id": s.id, "state": e_pb.SuggestionState.Name(s.state), "steps": int(st), "auc": auc,
                           "pruned": pruned, "failed": bool(o and o.failed), "stop_reason": s.stop_reason})
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
