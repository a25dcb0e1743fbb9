"""Ported verbatim from the team reference harness optsuite (../shared/bench/optsuite/curves.py).

Synthetic learning-curve families for the pruning benchmark.

Each family maps a hyperparameter assignment to a deterministic (noise-free)
curve of length ``max_steps``; the harness adds i.i.d. Gaussian evaluation
noise.  They are built to contain the behaviours that make early stopping
hard: curves that cross (fast starters that plateau low vs. slow starters that
end high), late overfitting, and learning rates that look great early and then
diverge.  ``best_final`` is the best noise-free *final* value over the space
(verified by ``python3 -m optsuite.curves``).

* ``dlrm_auc`` -- a DLRM/CTR-style model, AUC (maximise) at 27 evaluation
  points.  Optimal lr scales with sqrt(batch size); convergence speed grows
  with lr; lr > 8x the optimum diverges to AUC 0.5 at a step that comes
  earlier the larger the lr; large embedding tables overfit after their peak
  unless weight decay is strong.
* ``lcbench_like`` -- an LCBench-style MLP, validation accuracy (maximise)
  over 50 epochs with LCBench's 7 hyperparameters and ranges; power-law
  learning curves whose speed depends on the effective lr (lr / (1 - momentum)),
  capacity-dependent overfitting damped by dropout and weight decay, and
  divergence for effective lr > 30x optimal.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Dict, Mapping

import numpy as np

from hpobench.space import SearchSpace, double, integer


class CurveFamily:
    name: str = ""
    description: str = ""
    space: SearchSpace
    max_steps: int
    direction: str = "maximize"
    noise_std: float = 0.0
    best_final: float = float("nan")
    best_params: Dict[str, Any] = {}

    def curve(self, params: Mapping[str, Any]) -> np.ndarray:
        raise NotImplementedError

    def final(self, params: Mapping[str, Any]) -> float:
        return float(self.curve(params)[-1])

    def regret(self, final_value: float) -> float:
        """Shortfall of a noise-free final value w.r.t. the best achievable one (>= 0)."""
        return (self.best_final - final_value) if self.direction == "maximize" else (final_value - self.best_final)

    def info(self) -> Dict[str, Any]:
        return {"name": self.name, "description": self.description, "space": self.space.to_dict(),
                "max_steps": self.max_steps, "direction": self.direction, "noise_std": self.noise_std,
                "best_final": self.best_final, "best_params": self.best_params}


class DlrmAuc(CurveFamily):
    name = "dlrm_auc"
    description = ("DLRM/CTR-style AUC vs 27 eval steps; lr* = 0.02*sqrt(bs/2048); lr > 8 lr* diverges to "
                   "0.5; large embeddings overfit late; noise sd 0.002")
    max_steps = 27
    direction = "maximize"
    noise_std = 0.002
    # numerically verified by `python3 -m optsuite.curves`
    best_final = 0.80248771
    best_params = {"lr": 0.0201334, "embedding_dim": 32, "weight_decay": 1e-06, "batch_size": 2040}

    def __init__(self) -> None:
        self.space = SearchSpace([
            double("lr", 1e-4, 1.0, log=True),
            integer("embedding_dim", 4, 256, log=True),
            double("weight_decay", 1e-8, 1e-2, log=True),
            integer("batch_size", 512, 32768, log=True),
        ])

    def curve(self, p: Mapping[str, Any]) -> np.ndarray:
        lr, dim, wd, bs = float(p["lr"]), int(p["embedding_dim"]), float(p["weight_decay"]), int(p["batch_size"])
        t = np.arange(1, self.max_steps + 1, dtype=float)
        lr_star = 0.02 * math.sqrt(bs / 2048.0)
        u = math.log10(lr / lr_star)
        w = math.log10(wd / 1e-6)
        auc_inf = (0.805 - (0.010 if u < 0 else 0.02) * u * u - 0.0025 * math.log2(dim / 64.0) ** 2
                   - 0.0015 * w * w - 0.002 * math.log2(bs / 2048.0) ** 2)
        auc0 = 0.70
        tau = min(max(3.0 * (lr_star / lr) ** 0.6 * (bs / 2048.0) ** 0.3, 0.3), 200.0)
        auc = auc0 + (auc_inf - auc0) * (1 - np.exp(-t / tau))
        # overfitting of big embedding tables after the peak (~2 tau), damped by weight decay
        ovf = 0.00035 * max(0.0, math.log2(dim / 32.0)) * (1.0 if wd < 1e-5 else 0.3)
        auc = auc - ovf * np.maximum(0.0, t - 2 * tau)
        lr_div = 8 * lr_star
        if lr > lr_div:
            t_div = max(1, math.ceil(self.max_steps * (lr_div / lr) ** 2))
            auc = np.where(t >= t_div, 0.5, auc)
        return auc


class LcbenchLike(CurveFamily):
    name = "lcbench_like"
    description = ("LCBench-style MLP accuracy vs 50 epochs, 7 LCBench hyperparameters; power-law curves, "
                   "capacity overfitting, divergence for lr/(1-momentum) > 30x optimal; noise sd 0.005")
    max_steps = 50
    direction = "maximize"
    noise_std = 0.005
    best_final = 0.88584719
    best_params = {"batch_size": 30, "learning_rate": 0.0125379, "momentum": 0.59018, "weight_decay": 0.0003,
                   "num_layers": 2, "max_units": 1024, "max_dropout": 0.2}

    def __init__(self) -> None:
        self.space = SearchSpace([  # LCBench's configuration space
            integer("batch_size", 16, 512, log=True),
            double("learning_rate", 1e-4, 1e-1, log=True),
            double("momentum", 0.1, 0.99),
            double("weight_decay", 1e-5, 1e-1, log=True),
            integer("num_layers", 1, 5),
            integer("max_units", 64, 1024, log=True),
            double("max_dropout", 0.0, 1.0),
        ])

    def curve(self, p: Mapping[str, Any]) -> np.ndarray:
        bs, lr, mom = int(p["batch_size"]), float(p["learning_rate"]), float(p["momentum"])
        wd, nl, mu, dr = float(p["weight_decay"]), int(p["num_layers"]), int(p["max_units"]), float(p["max_dropout"])
        t = np.arange(1, self.max_steps + 1, dtype=float)
        lr_eff = lr / (1 - mom)
        lr_eff_star = 0.03 * math.sqrt(bs / 64.0)
        u = math.log10(lr_eff / lr_eff_star)
        cap = nl * math.log2(mu)
        wdl = math.log10(wd / 3e-4)
        acc_inf = (0.90 - 0.04 * u * u - 0.0001 * (cap - 24) ** 2 - 0.01 * wdl * wdl
                   - 0.05 * (dr - 0.2) ** 2 - 0.004 * math.log2(bs / 64.0) ** 2 / 4)
        acc0 = 0.10
        tau = 2.0 * 10 ** (-0.5 * u) * (bs / 64.0) ** 0.25
        acc = acc_inf - (acc_inf - acc0) * (1 + t / tau) ** -1.2
        ovf = 0.00005 * max(0.0, cap - 20) * (1 - dr) * (1 - min(1.0, math.log10(wd / 1e-5) / 4))
        acc = acc - ovf * np.maximum(0.0, t - 10)
        if lr_eff > 30 * lr_eff_star:
            t_div = max(1, math.ceil(3 * (30 * lr_eff_star / lr_eff) ** 2 * self.max_steps / 3))
            acc = np.where(t >= t_div, 0.10, acc)
        return acc


FAMILIES: Dict[str, CurveFamily] = {f.name: f for f in (DlrmAuc(), LcbenchLike())}


def get_family(name: str) -> CurveFamily:
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown curve family {name!r}; choose from {sorted(FAMILIES)}") from None


def search_best_final(fam: CurveFamily, n_random: int = 50000, n_refine: int = 20, seed: int = 0):
    """Global search for the best noise-free final value: random sampling, then local refinement
    (Nelder-Mead on the doubles in unit coordinates alternating with exhaustive scans of each int)."""
    from scipy.optimize import minimize
    rng = np.random.default_rng(seed)
    params = list(fam.space)
    sign = -1.0 if fam.direction == "maximize" else 1.0

    def loss(q: Mapping[str, Any]) -> float:
        return sign * fam.final(q)

    pts = [{p.name: p.from_unit(u) for p, u in zip(params, rng.random(len(params)))} for _ in range(n_random)]
    vals = np.array([loss(q) for q in pts])
    best_v, best_q = np.inf, None
    doubles = [p for p in params if p.type == "double"]
    ints = [p for p in params if p.type == "int"]
    for i in np.argsort(vals)[:n_refine]:
        cur = dict(pts[i])
        for _ in range(4):
            def fn(u: np.ndarray) -> float:
                return loss({**cur, **{p.name: p.from_unit(x) for p, x in zip(doubles, u)}})
            u0 = np.array([p.to_unit(cur[p.name]) for p in doubles])
            res = minimize(fn, u0, method="Nelder-Mead",
                           options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": 4000})
            cur.update({p.name: p.from_unit(x) for p, x in zip(doubles, res.x)})
            for p in ints:
                cur[p.name] = min(range(int(p.low), int(p.high) + 1), key=lambda k: loss({**cur, p.name: k}))
        v = loss(cur)
        if v < best_v:
            best_v, best_q = v, cur
    return sign * best_v, best_q


def verify() -> int:
    """Check each family's ``best_final`` against a global numeric search."""
    bad = 0
    for fam in FAMILIES.values():
        found, p = search_best_final(fam)
        at_best = fam.final(fam.best_params)
        ok = fam.regret(found) >= -1e-6 and abs(at_best - fam.best_final) < 1e-7
        bad += not ok
        print(f"{fam.name}: declared best_final={fam.best_final:.7f} f(best_params)={at_best:.7f} "
              f"numeric={found:.7f} at {p}  {'OK' if ok else 'MISMATCH'}")
    return bad


if __name__ == "__main__":
    sys.exit(1 if verify() else 0)
