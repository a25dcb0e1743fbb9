"""The quick start's DLRM tuning problem (deploy/examples/dlrm.yaml), shortened, for both sides.

The quick start trains 3000 steps per trial; the benchmark trains ``max_steps`` (a few seconds on 2 cores),
so every step-valued parameter (those mapped to warmup_steps, decay_start_step, decay_steps), its default,
and the linear constraints over them are scaled by ``max_steps / 3000``; everything else is the quick
start's: parameters, log scales, the sgd/lamb conditional, the constraints, the metric.

hpo side: the spec is the quick start's YAML with that space, the training section (same trainer
options as ``dlrm-train`` gets), the pruner under test and ``optimizer: {algorithm: bayesian, seed}``,
created with ``hpo-cli create -f`` as a user would.
Optuna side: define-by-run over the same space; a linear constraint becomes a dependent range of its
last sampled term (``decay_start_step`` from ``warmup_steps`` up, ``decay_steps`` up to what is left of
the run), the usual way to express dependent bounds in Optuna.
"""

from __future__ import annotations

import copy
import math
import os
import subprocess
from typing import Any, Dict, List, Optional

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
QUICKSTART_SPEC = os.path.join(SOURCE_DIR, "deploy", "examples", "dlrm.yaml")
STEP_OPTIONS = ("warmup_steps", "decay_start_step", "decay_steps")
# trainer option (worker/trial_config.h) -> dlrm-train flag, where the names differ
FLAG = {"learning_rate": "lr", "data_source": "data", "end_learning_rate": "end_lr"}
PRUNERS = ["none", "median", "asha", "hyperband"]


def dlrm_train_flags(dlrm_train: str) -> set:
    """Flags ``dlrm-train`` accepts (from --helpfull), so the space keeps only what it can set."""
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    out = subprocess.run([dlrm_train, "--helpfull"], capture_output=True, text=True, env=env).stdout
    return {w[2:].split("=")[0] for line in out.splitlines() for w in line.split()[:1] if w.startswith("--")}


class Problem:
    """One benchmark configuration: the scaled space, fixed trainer options, cadence, pruner settings."""

    def __init__(self, *, max_steps: int, eval_every: int, batch_size: int, train_path: str, test_path: str,
                 trainer_flags: Optional[set] = None, dropped: Optional[List[str]] = None,
                 spec_path: str = QUICKSTART_SPEC):
        with open(spec_path) as fh:
            self.quickstart = yaml.safe_load(fh)
        tr = self.quickstart["training"]
        self.scale = max_steps / float(tr["max_steps"])
        self.max_steps, self.eval_every, self.batch_size = int(max_steps), int(eval_every), int(batch_size)
        mapping = dict(tr["parameter_mapping"])  # trainer option -> parameter
        # Parameters whose trainer option dlrm-train cannot set are left out on both sides (the trainer's
        # default applies to both), so both sides search the same space.
        self.dropped = sorted(dropped if dropped is not None else
                              (p for opt, p in mapping.items()
                               if trainer_flags is not None and FLAG.get(opt, opt) not in trainer_flags))
        self.mapping = {opt: p for opt, p in mapping.items() if p not in self.dropped}
        step_params = {p for opt, p in self.mapping.items() if opt in STEP_OPTIONS}
        ss = copy.deepcopy(self.quickstart["search_space"])
        ss["parameters"] = [q for q in ss["parameters"] if q["name"] not in self.dropped]
        for q in ss["parameters"]:
            if q["name"] in step_params:
                q["bounds"] = {k: int(round(v * self.scale)) for k, v in q["bounds"].items()}
                if "default_value" in q:
                    q["default_value"] = int(round(q["default_value"] * self.scale))
        for c in ss.get("linear_constraints", []):
            if not all(t["name"] in step_params for t in c["terms"]):
                raise ValueError("a linear constraint over parameters other than step counts: cannot scale it")
            c["threshold"] = c["threshold"] * self.scale
        self.space = ss
        fixed = {k: str(v) for k, v in tr.get("fixed_options", {}).items()}
        fixed.pop("synthetic_test_examples", None)  # the test split is a dlrm-datagen file here
        fixed.update({"data_source": "binary", "train_path": train_path, "test_path": test_path,
                      "batch_size": str(self.batch_size), "threads": "1"})
        self.fixed = fixed

    # ---- pruners (same settings on both sides: the quick start's ASHA, scaled; Optuna's defaults otherwise)
    def hpo_pruner(self, name: str) -> Optional[Dict[str, Any]]:
        if name == "none":
            return None
        if name == "median":
            pr = {"median": {}}  # startup 5, warmup 0, interval 1 (Optuna's MedianPruner defaults)
        elif name == "asha":
            pr = {"successive_halving": {"min_resource": self.eval_every, "reduction_factor": 3}}
        elif name == "hyperband":
            pr = {"hyperband": {"min_resource": self.eval_every, "max_resource": self.max_steps,
                                "reduction_factor": 3}}
        else:
            raise KeyError(name)
        pr["metric"] = "auc"
        return pr

    def optuna_pruner(self, name: str):
        import optuna
        if name == "none":
            return optuna.pruners.NopPruner()
        if name == "median":
            return optuna.pruners.MedianPruner()
        if name == "asha":
            return optuna.pruners.SuccessiveHalvingPruner(min_resource=self.eval_every, reduction_factor=3,
                                                          min_early_stopping_rate=0)
        if name == "hyperband":
            return optuna.pruners.HyperbandPruner(min_resource=self.eval_every, max_resource=self.max_steps,
                                                  reduction_factor=3)
        raise KeyError(name)

    def pruner_text(self, name: str) -> str:
        e, t = self.eval_every, self.max_steps
        return {"none": "none",
                "median": "hpo `median {}` / Optuna `MedianPruner()` (5 startup trials, no warmup)",
                "asha": f"hpo `successive_halving {{min_resource: {e}, reduction_factor: 3}}` / Optuna "
                        f"`SuccessiveHalvingPruner({e}, 3, 0)` (rungs {e}, {3 * e}, {9 * e})",
                "hyperband": f"hpo `hyperband {{min_resource: {e}, max_resource: {t}, reduction_factor: 3}}` / "
                             f"Optuna `HyperbandPruner({e}, {t}, 3)`"}[name]

    # ---- hpo side
    def hpo_spec(self, *, name: str, pruner: str, seed: int, trainer_seed: int, parallel: int,
                 trial_cap: int) -> Dict[str, Any]:
        spec = copy.deepcopy(self.quickstart)
        spec["name"] = name
        spec["project"] = "bench-tuning"
        spec["metadata"] = {"source": "tests/bench/tuning"}
        spec["search_space"] = copy.deepcopy(self.space)
        spec["observation_budget"] = int(trial_cap)  # never reached: the harness stops at the step budget
        spec["parallel_bandwidth"] = int(parallel)
        spec["optimizer"] = {"algorithm": "bayesian", "seed": int(seed)}
        pr = self.hpo_pruner(pruner)
        if pr is None:
            spec.pop("pruner", None)
        else:
            spec["pruner"] = pr
        fixed = dict(self.fixed, seed=str(trainer_seed))
        spec["training"] = {"max_steps": self.max_steps, "eval_every_steps": self.eval_every,
                            "parameter_mapping": dict(self.mapping), "fixed_options": fixed}
        return spec

    # ---- Optuna side
    def defaults(self) -> Dict[str, Any]:
        """The assignment hpo suggests first (every default_value; a conditional's first value)."""
        out: Dict[str, Any] = {}
        for c in self.space.get("conditionals", []):
            out[c["name"]] = c["values"][0]
        for q in self.space["parameters"]:
            if self._active(q, out) and "default_value" in q:
                out[q["name"]] = q["default_value"]
        return out

    @staticmethod
    def _active(q: Dict[str, Any], values: Dict[str, Any]) -> bool:
        return all(values.get(c["name"]) in c["values"] for c in q.get("conditions", []))

    def suggest_optuna(self, trial) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for c in self.space.get("conditionals", []):
            out[c["name"]] = trial.suggest_categorical(c["name"], list(c["values"]))
        for q in self.space["parameters"]:
            if not self._active(q, out):
                continue
            n, typ = q["name"], q.get("type", "double")
            if typ == "categorical":
                out[n] = trial.suggest_categorical(n, list(q["categorical_values"]))
                continue
            lo, hi = float(q["bounds"]["min"]), float(q["bounds"]["max"])
            for c in self.space.get("linear_constraints", []):
                terms = {t["name"]: float(t["weight"]) for t in c["terms"]}
                if n not in terms or any(k != n and k not in out for k in terms):
                    continue  # this parameter is not the constraint's last sampled term
                rest = sum(w * float(out[k]) for k, w in terms.items() if k != n)
                bound = (float(c["threshold"]) - rest) / terms[n]
                less = str(c["type"]).lower().replace("-", "_") in ("less_than", "constraint_type_less_than")
                if (terms[n] > 0) == less:
                    hi = min(hi, bound)
                else:
                    lo = max(lo, bound)
            log = str(q.get("transformation", "")).lower() in ("log", "transformation_log")
            if typ == "int":
                lo, hi = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
                if lo > hi:
                    raise ValueError(f"{n}: empty range [{lo}, {hi}]")
                out[n] = trial.suggest_int(n, int(lo), int(hi), log=log)
            else:
                out[n] = trial.suggest_float(n, lo, hi, log=log)
        return out

    def dlrm_argv(self, dlrm_train: str, params: Dict[str, Any], trainer_seed: int) -> List[str]:
        """dlrm-train with the same trainer options hpo-worker builds from the spec and the assignment."""
        opts: Dict[str, str] = dict(self.fixed, seed=str(trainer_seed), max_steps=str(self.max_steps),
                                    eval_every=str(self.eval_every))
        for opt, p in self.mapping.items():
            if p in params:
                v = params[p]
                opts[opt] = repr(float(v)) if isinstance(v, float) else str(v)
        return [dlrm_train, "--json"] + [f"--{FLAG.get(k, k)}={v}" for k, v in opts.items()]

    def describe(self) -> str:
        parts = []
        for c in self.space.get("conditionals", []):
            parts.append(f"{c['name']} ∈ {{{', '.join(c['values'])}}}")
        for q in self.space["parameters"]:
            b = q.get("bounds", {})
            log = " log" if str(q.get("transformation", "")).lower() == "log" else ""
            cond = (" (" + ", ".join(f"{c['name']}={'/'.join(c['values'])}" for c in q["conditions"]) + ")"
                    if q.get("conditions") else "")
            parts.append(f"{q['name']} [{b.get('min')}, {b.get('max')}]{log}{cond}")
        cons = []
        for c in self.space.get("linear_constraints", []):
            lhs = " + ".join(f"{'' if t['weight'] == 1 else ('−' if t['weight'] == -1 else t['weight'])}{t['name']}"
                             for t in c["terms"]).replace("+ −", "− ")
            op = "≤" if "less" in str(c["type"]).lower() else "≥"
            cons.append(f"{lhs} {op} {c['threshold']:g}")
        return "; ".join(parts) + ("; constraints: " + ", ".join(cons) if cons else "")
