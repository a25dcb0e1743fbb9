"""One benchmark run: a method (hpo Bayesian / Optuna TPE / Optuna random, with a pruner), a seed, 1 or 2
trials at a time, until the trials that finished have trained ``budget_steps`` steps.

Both sides record every finished trial the same way: finish time, steps actually trained (a completed
trial: max_steps; a pruned one: the step it was stopped at; a diverged one: the step of divergence),
state, final AUC (completed trials only count as results), parameters.  A trial still running when the
budget is reached is abandoned and not recorded (on both sides).

hpo side: a real hpo-server (its own database) and ``parallel`` hpo-worker processes training with their
embedded trainer; the harness only watches the server (ListSuggestions / ListObservations) and stops the
workers (SIGTERM: a running trial's lease is given back) once the budget is reached.
Optuna side: ``parallel`` threads share one in-memory study; each asks for a trial, runs ``dlrm-train``
as a subprocess (argv list), reports every evaluation (trial.report / should_prune, killing the process
on a prune) and tells the result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from typing import Any, Dict, List

import yaml

from hpobench.common import derive_seed
from prunebench.dlrm import DIVERGED_RE, list_trials, train_subprocess
from prunebench.hpo import HpoServer

from .space import Problem

POLL_S = 0.25


# The trainer seed is the same for every trial of every run on both sides (nonzero: hpo-worker replaces 0
# by the suggestion id): the objective is one fixed function of the configuration, so seeds vary only the
# optimizers and a fixed target AUC means the same thing in every run. (With 1000+seed, the best AUC any
# method found moved by ~0.01 from one trainer seed to the next: more than the optimizers differ.)
TRAINER_SEED = 1000


def seeds_for(seed: int) -> Dict[str, int]:
    """Seeds of one benchmark seed: the optimizers' (each side its own stream) and the trainer's."""
    return {"hpo": derive_seed("tuning-hpo", seed), "optuna": derive_seed("tuning-optuna", seed),
            "trainer": TRAINER_SEED}


def _env() -> Dict[str, str]:
    # One thread per trial, no OpenMP spinning on shared cores (as the quick start runs its workers).
    return dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS="1")


def run_optuna(problem: Problem, bin_dir: str, sampler: str, pruner: str, seed: int, parallel: int,
               budget_steps: int, trial_cap: int) -> Dict[str, Any]:
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sd = seeds_for(seed)
    smp = (optuna.samplers.TPESampler(seed=sd["optuna"]) if sampler == "tpe"
           else optuna.samplers.RandomSampler(seed=sd["optuna"]))
    study = optuna.create_study(direction="maximize", sampler=smp, pruner=problem.optuna_pruner(pruner))
    # hpo starts from the spec's default assignment: Optuna gets the same first trial.
    study.enqueue_trial(problem.defaults())
    dlrm_train = os.path.join(bin_dir, "dlrm-train")
    lock = threading.Lock()
    done = threading.Event()
    state = {"steps": 0, "started": 0}
    trials: List[Dict[str, Any]] = []
    errors: List[str] = []
    t0 = time.time()
    env = _env()

    def loop() -> None:
        while not done.is_set():
            with lock:
                if state["steps"] >= budget_steps or state["started"] >= trial_cap:
                    done.set()
                    return
                state["started"] += 1
                t = study.ask()
                params = problem.suggest_optuna(t)

            def on_eval(step: int, auc: float) -> bool:
                if done.is_set():
                    return True  # budget reached by another trial: abandon this one
                t.report(auc, step)
                return step < problem.max_steps and t.should_prune()

            try:
                r = train_subprocess(problem.dlrm_argv(dlrm_train, params, sd["trainer"]), on_eval, env=env)
            except Exception as e:  # noqa: BLE001 - recorded, the run goes on
                errors.append(repr(e))
                r = {"pruned": False, "failed": True, "steps": 0, "auc": None, "reason": repr(e)}
            with lock:
                if r["pruned"] and done.is_set() and state["steps"] >= budget_steps:
                    study.tell(t, state=optuna.trial.TrialState.FAIL)
                    return
                if r["pruned"]:
                    study.tell(t, state=optuna.trial.TrialState.PRUNED)
                elif r["failed"]:
                    study.tell(t, state=optuna.trial.TrialState.FAIL)
                else:
                    if r.get("final_auc") is not None:
                        r["auc"] = r["final_auc"]  # full precision, as hpo-worker reports it
                    study.tell(t, r["auc"])
                state["steps"] += r["steps"]
                trials.append({"n": t.number, "finish": time.time() - t0, "steps": r["steps"],
                               "state": "PRUNED" if r["pruned"] else "FAILED" if r["failed"] else "COMPLETED",
                               "auc": r["auc"], "params": params,
                               "reason": r.get("reason", "")[-300:] if r["failed"] else ""})
                if state["steps"] >= budget_steps:
                    done.set()

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(parallel)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    trials.sort(key=lambda x: x["finish"])
    return {"side": f"optuna-{sampler}", "pruner": pruner, "seed": seed, "parallel": parallel,
            "budget_steps": budget_steps, "trials": trials, "wall_s": round(time.time() - t0, 1),
            "errors": errors}


def _trial_steps(x: Dict[str, Any], max_steps: int) -> int:
    if x["state"] == "SUGGESTION_STATE_PRUNED":
        return int(x["stop_step"])
    if x["failed"]:
        d = DIVERGED_RE.search(x["failure_reason"] or "")
        if d:
            return int(d.group(1))
    try:
        return int(x["metadata"].get("steps", max_steps if not x["failed"] else 0))
    except ValueError:
        return max_steps if not x["failed"] else 0


FINISHED = ("SUGGESTION_STATE_COMPLETED", "SUGGESTION_STATE_PRUNED", "SUGGESTION_STATE_FAILED")


def run_hpo(problem: Problem, bin_dir: str, pruner: str, seed: int, parallel: int, budget_steps: int,
            trial_cap: int, workdir: str) -> Dict[str, Any]:
    sd = seeds_for(seed)
    wd = os.path.join(workdir, f"hpo-{pruner}-p{parallel}-s{seed}-{uuid.uuid4().hex[:6]}")
    server = HpoServer(os.path.join(bin_dir, "hpo-server"), wd, extra_args=("--http_listen=",)).start()
    workers: List[subprocess.Popen] = []
    errors: List[str] = []
    try:
        spec = problem.hpo_spec(name=f"tuning-{pruner}-p{parallel}-s{seed}", pruner=pruner, seed=sd["hpo"],
                                trainer_seed=sd["trainer"], parallel=parallel, trial_cap=trial_cap)
        spec_path = os.path.join(wd, "spec.yaml")
        with open(spec_path, "w") as fh:
            yaml.safe_dump(spec, fh, sort_keys=False)
        out = subprocess.run([os.path.join(bin_dir, "hpo-cli"), "--server", server.address, "--json", "create",
                              "-f", spec_path], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"hpo-cli create: {out.stdout} {out.stderr}")
        exp_id = int(json.loads(out.stdout)["experiment"]["id"])
        t0 = time.time()
        try:
            for i in range(parallel):
                log = open(os.path.join(wd, f"worker-{i}.log"), "wb")
                workers.append(subprocess.Popen(
                    [os.path.join(bin_dir, "hpo-worker"), "--server", server.address, "--experiment", str(exp_id),
                     "--threads", "1", "--name", f"tuning-{i}", "--log_level", "warning"],
                    stdout=log, stderr=subprocess.STDOUT, env=_env()))
            while True:
                time.sleep(POLL_S)
                finished = [x for x in list_trials(server, exp_id) if x["state"] in FINISHED]
                if (sum(_trial_steps(x, problem.max_steps) for x in finished) >= budget_steps
                        or len(finished) >= trial_cap):
                    break
                if all(w.poll() is not None for w in workers):
                    errors.append("every hpo-worker exited before the budget was reached")
                    break
        finally:
            for w in workers:
                if w.poll() is None:
                    w.send_signal(signal.SIGTERM)  # gives a running trial's lease back
            for w in workers:
                try:
                    w.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    w.kill()
                    w.wait()
        wall = time.time() - t0
        finished = [x for x in list_trials(server, exp_id) if x["state"] in FINISHED]
    finally:
        server.stop()
    trials = []
    for x in sorted(finished, key=lambda x: (x["finish_time"] or 0, x["id"])):
        trials.append({"n": x["id"], "finish": (x["finish_time"] or t0) - t0,
                       "steps": _trial_steps(x, problem.max_steps), "state": x["state"].replace("SUGGESTION_STATE_", ""),
                       "auc": x["auc"], "params": x["params"], "source": x["source"],
                       "reason": (x["stop_reason"] or x["failure_reason"] or "")[-300:]})
    return {"side": "hpo-bayesian", "pruner": pruner, "seed": seed, "parallel": parallel,
            "budget_steps": budget_steps, "trials": trials, "wall_s": round(wall, 1), "errors": errors}
