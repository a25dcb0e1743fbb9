"""Benchmark problems with known optima (ported from the team's reference harness, optsuite).

Every problem is a *minimisation* problem described by a neutral
:class:`~hpobench.space.SearchSpace` and an ``evaluate(params, rng)`` method
that returns both the observed value (possibly noisy) and the noise-free
value, so regret can always be measured against the truth.

Sources
-------
Functions marked ``evalset`` are transcribed faithfully from SigOpt's public
benchmark suite, https://github.com/sigopt/evalset (MIT licence), commit
``0888f93b3f2752b34c1f71674ce8fd3f9c911948``, files ``evalset/test_funcs.py``
and ``evalset/multicriteria_test_funcs.py``; the class name is given in each
``source`` field.  Formulae, bounds and reported optima are kept as in that
file (e.g. evalset's *asymmetric* Ackley domain [-10, 30]^d, which avoids
rewarding optimisers that start at the box centre, such as CMA-ES).  Where an
evalset optimum was only quoted to a few digits, ``validate.py`` re-derives it
numerically and the refined value is used (noted in ``source``).

Other classics follow the Virtual Library of Simulation Experiments
(Surjanovic & Bingham, https://www.sfu.ca/~ssurjano/) and BoTorch's
``BraninCurrin``; the ML-flavoured problems (mixed, log-scale, conditional,
linear-constraint) are synthetic and defined here with optima that are exact
by construction or verified numerically (multi-start local search; see
``selftest.py`` for the checks that run with the benchmark).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .space import SearchSpace, categorical, double, integer, LinearConstraint

EVALSET = "sigopt/evalset@0888f93 evalset/test_funcs.py"
EVALSET_MC = "sigopt/evalset@0888f93 evalset/multicriteria_test_funcs.py"

Value = Union[float, List[float]]


@dataclass
class Evaluation:
    value: Value        # what the optimiser sees (noisy for noisy problems)
    true_value: Value   # noise-free value, used for regret


@dataclass
class Problem:
    """A benchmark problem.  Subclasses implement :meth:`true_f`."""

    name: str
    space: SearchSpace
    source: str
    description: str = ""
    f_opt: Optional[float] = None                 # single-objective optimum (minimum)
    x_opt: Optional[Dict[str, Any]] = None        # one minimiser, if known
    noise_std: float = 0.0                        # additive Gaussian noise on the observation
    n_objectives: int = 1
    ref_point: Optional[List[float]] = None       # multi-objective: hypervolume reference point
    max_hv: Optional[float] = None                # multi-objective: hypervolume of the true front
    tags: List[str] = field(default_factory=list)

    def true_f(self, params: Mapping[str, Any]) -> Value:
        raise NotImplementedError

    def evaluate(self, params: Mapping[str, Any], rng: Optional[np.random.Generator] = None) -> Evaluation:
        true = self.true_f(params)
        if self.noise_std > 0:
            if rng is None:
                raise ValueError(f"{self.name} is noisy: pass an rng")
            obs: Value = float(true) + self.noise_std * float(rng.standard_normal())  # type: ignore[arg-type]
        else:
            obs = true
        return Evaluation(obs, true)

    def info(self) -> Dict[str, Any]:
        """JSON-able description (stored alongside results)."""
        return {
            "name": self.name, "source": self.source, "description": self.description,
            "space": self.space.to_dict(), "f_opt": self.f_opt, "x_opt": self.x_opt,
            "noise_std": self.noise_std, "n_objectives": self.n_objectives,
            "ref_point": self.ref_point, "max_hv": self.max_hv, "tags": self.tags,
        }


class VectorProblem(Problem):
    """A box-bounded problem ``f(x)`` on named doubles x1..xd."""

    def __init__(self, name: str, fn: Callable[[np.ndarray], Any], bounds: Sequence[Tuple[float, float]],
                 source: str, f_opt: Optional[float] = None, x_opt: Optional[Sequence[float]] = None,
                 linear_constraints: Sequence[LinearConstraint] = (), **kw: Any):
        params = [double(f"x{i + 1}", lo, hi) for i, (lo, hi) in enumerate(bounds)]
        space = SearchSpace(params, linear_constraints)
        xo = None if x_opt is None else {f"x{i + 1}": float(v) for i, v in enumerate(x_opt)}
        super().__init__(name=name, space=space, source=source, f_opt=f_opt, x_opt=xo, **kw)
        self.fn = fn
        self.dim = len(bounds)
        self.bounds = np.asarray(bounds, dtype=float)

    def to_vector(self, params: Mapping[str, Any]) -> np.ndarray:
        return np.array([float(params[f"x{i + 1}"]) for i in range(self.dim)])

    def true_f(self, params: Mapping[str, Any]) -> Value:
        y = self.fn(self.to_vector(params))
        return [float(v) for v in y] if self.n_objectives > 1 else float(y)


# =========================================================================
# Function definitions (vector form).  evalset ones are verbatim formulae.
# =========================================================================

def branin01(x: np.ndarray) -> float:
    """evalset Branin01."""
    x1, x2 = x
    return ((x2 - (5.1 / (4 * math.pi ** 2)) * x1 ** 2 + 5 * x1 / math.pi - 6) ** 2
            + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)


_H3_A = np.array([[3, 0.1, 3, 0.1], [10, 10, 10, 10], [30, 35, 30, 35]], dtype=float)
_H3_P = np.array([[0.36890, 0.46990, 0.10910, 0.03815],
                  [0.11700, 0.43870, 0.87320, 0.57430],
                  [0.26730, 0.74700, 0.55470, 0.88280]])
_H_C = np.array([1, 1.2, 3, 3.2])
_H6_A = np.array([[10, 0.05, 3, 17], [3, 10, 3.5, 8], [17, 17, 1.7, 0.05],
                  [3.5, 0.1, 10, 10], [1.7, 8, 17, 0.1], [8, 14, 8, 14]], dtype=float)
_H6_P = np.array([[0.1312, 0.2329, 0.2348, 0.4047], [0.1696, 0.4135, 0.1451, 0.8828],
                  [0.5569, 0.8307, 0.3522, 0.8732], [0.0124, 0.3736, 0.2883, 0.5743],
                  [0.8283, 0.1004, 0.3047, 0.1091], [0.5886, 0.9991, 0.6650, 0.0381]])


def hartmann3(x: np.ndarray) -> float:
    """evalset Hartmann3 (columns of a/p are the 4 centres)."""
    d = np.sum(_H3_A * (np.asarray(x)[:, None] - _H3_P) ** 2, axis=0)
    return float(-np.sum(_H_C * np.exp(-d)))


def hartmann6(x: np.ndarray) -> float:
    """evalset Hartmann6."""
    d = np.sum(_H6_A * (np.asarray(x)[:, None] - _H6_P) ** 2, axis=0)
    return float(-np.sum(_H_C * np.exp(-d)))


def rosenbrock(x: np.ndarray) -> float:
    """Rosenbrock (SFU); minimum 0 at (1, ..., 1)."""
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def ackley(x: np.ndarray) -> float:
    """evalset Ackley (a=20, b=0.2, c=2*pi)."""
    d = len(x)
    return float(-20 * np.exp(-0.2 * np.sqrt(np.sum(x ** 2) / d))
                 - np.exp(np.sum(np.cos(2 * math.pi * x)) / d) + 20 + math.e)


def levy(x: np.ndarray) -> float:
    """Levy (SFU, d-dimensional); minimum 0 at (1, ..., 1)."""
    w = 1 + (np.asarray(x) - 1) / 4
    term1 = math.sin(math.pi * w[0]) ** 2
    term3 = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    wi = w[:-1]
    mid = np.sum((wi - 1) ** 2 * (1 + 10 * np.sin(math.pi * wi + 1) ** 2))
    return float(term1 + mid + term3)


def styblinski_tang(x: np.ndarray) -> float:
    """evalset StyblinskiTang."""
    return float(np.sum(x ** 4 - 16 * x ** 2 + 5 * x) / 2)


def zdt1_evalset(x: np.ndarray) -> List[float]:
    """evalset ZitzlerDebThiele01 (4-D; keeps evalset's 9/29 factor from the 30-D original)."""
    g = 1 + 9.0 / 29 * np.sum(x[1:])
    return [float(x[0]), float(g * (1 - np.sqrt(x[0] / g)))]


def branin_currin(x: np.ndarray) -> List[float]:
    """BraninCurrin on [0,1]^2 as in BoTorch (both objectives minimised)."""
    x0, x1 = float(x[0]), float(x[1])
    b = branin01(np.array([15 * x0 - 5, 15 * x1]))
    factor = 1.0 if x1 <= 0 else 1 - math.exp(-1 / (2 * x1))
    c = factor * (2300 * x0 ** 3 + 1900 * x0 ** 2 + 2092 * x0 + 60) / (100 * x0 ** 3 + 500 * x0 ** 2 + 4 * x0 + 20)
    return [b, c]


# =========================================================================
# Synthetic ML-flavoured problems
# =========================================================================

class MixedProblem(Problem):
    """3 doubles + 1 int + 1 log-int + 1 categorical.

    ``f = H3(x permuted by activation) + delta[act] + 0.02 (depth - d0[act])^2
    + 0.1 (log2(width) - w0[act])^2``.  Each activation permutes the Hartmann3
    coordinates, so the continuous optimum moves with the categorical choice.
    Global minimum H3_min at act='gelu', depth=9, width=512.
    """

    H3_MIN = -3.86278214782076
    ACTS = {  # delta, d0, log2(width0), permutation
        "relu": (0.25, 4, 6, (0, 1, 2)),
        "tanh": (0.50, 2, 8, (2, 0, 1)),
        "gelu": (0.00, 9, 9, (1, 2, 0)),
        "sigmoid": (0.80, 3, 5, (2, 1, 0)),
    }
    H3_XOPT = (0.114614, 0.555649, 0.852547)

    def __init__(self) -> None:
        space = SearchSpace([double("x1", 0, 1), double("x2", 0, 1), double("x3", 0, 1),
                             integer("depth", 1, 12), integer("width", 8, 1024, log=True),
                             categorical("activation", list(self.ACTS))])
        perm = self.ACTS["gelu"][3]
        x = [0.0, 0.0, 0.0]
        for i, j in enumerate(perm):  # y_i = x[perm[i]] must equal H3_XOPT[i]
            x[j] = self.H3_XOPT[i]
        super().__init__(name="mixed", space=space, source="synthetic (this suite); Hartmann3 core from "
                         f"{EVALSET}::Hartmann3", f_opt=self.H3_MIN,
                         x_opt={"x1": x[0], "x2": x[1], "x3": x[2], "depth": 9, "width": 512,
                                "activation": "gelu"},
                         description=self.__doc__.split("\n\n")[0], tags=["mixed", "categorical", "int"])

    def true_f(self, p: Mapping[str, Any]) -> float:
        delta, d0, w0, perm = self.ACTS[p["activation"]]
        x = np.array([p["x1"], p["x2"], p["x3"]], dtype=float)
        return (hartmann3(x[list(perm)]) + delta + 0.02 * (int(p["depth"]) - d0) ** 2
                + 0.1 * (math.log2(int(p["width"])) - w0) ** 2)


class LogScaleProblem(Problem):
    """Learning-rate-like problem: lr in [1e-5, 1] (log), optimum at 3e-4.

    ``loss = 0.1 + lr_term(u) + 0.02 v^2 + 0.5 (dropout - 0.3 + 0.05 v)^2`` with
    ``u = log10(lr / 3e-4)``, ``v = log10(wd / 1e-4)``; ``lr_term`` is 0.08 u^2
    below the optimum and 0.3 u^2 above (asymmetric, like real lr curves), and
    runs with lr > 0.05 "diverge" to a flat loss of 2.3.  Minimum 0.1.
    """

    def __init__(self) -> None:
        space = SearchSpace([double("lr", 1e-5, 1.0, log=True), double("weight_decay", 1e-7, 1e-1, log=True),
                             double("dropout", 0.0, 0.8)])
        super().__init__(name="logscale", space=space, source="synthetic (this suite)", f_opt=0.1,
                         x_opt={"lr": 3e-4, "weight_decay": 1e-4, "dropout": 0.3},
                         description=self.__doc__.split("\n\n")[0], tags=["log"])

    def true_f(self, p: Mapping[str, Any]) -> float:
        lr, wd, dr = float(p["lr"]), float(p["weight_decay"]), float(p["dropout"])
        if lr > 0.05:
            return 2.3
        u, v = math.log10(lr / 3e-4), math.log10(wd / 1e-4)
        lr_term = 0.08 * u * u if u < 0 else 0.3 * u * u
        return 0.1 + lr_term + 0.02 * v * v + 0.5 * (dr - 0.3 + 0.05 * v) ** 2


class ConditionalProblem(Problem):
    """Conditional space: 'optimizer' in {sgd, adam, rmsprop} activates its own sub-parameters.

    Shared: lr (log 1e-5..1), batch_size (log-int 16..1024).  sgd: momentum,
    nesterov; adam: beta1, beta2; rmsprop: rho.  Per branch the optimal lr
    follows a batch-size scaling rule (linear for sgd, sqrt for adam/rmsprop)
    and lr > 30x the optimum diverges (loss 1.0).  The sgd branch has the widest
    basin but a worse floor (0.06) than adam (0.05, narrow basin); global
    minimum 0.05 at adam, lr=5e-4, batch=64, beta1=0.9, beta2=0.999.
    """

    BRANCH = {  # floor, lr coefficient, lr at batch 256, scaling exponent, best batch
        "sgd": (0.06, 0.05, 0.1, 1.0, 256),
        "adam": (0.05, 0.15, 1e-3, 0.5, 64),
        "rmsprop": (0.08, 0.10, 1e-3, 0.5, 128),
    }

    def __init__(self) -> None:
        space = SearchSpace([
            categorical("optimizer", list(self.BRANCH)),
            double("lr", 1e-5, 1.0, log=True),
            integer("batch_size", 16, 1024, log=True),
            double("momentum", 0.0, 0.99, optimizer=["sgd"]),
            categorical("nesterov", ["off", "on"], optimizer=["sgd"]),
            double("beta1", 0.5, 0.999, optimizer=["adam"]),
            double("beta2", 0.9, 0.9999, optimizer=["adam"]),
            double("rho", 0.5, 0.99, optimizer=["rmsprop"]),
        ])
        super().__init__(name="conditional", space=space, source="synthetic (this suite)", f_opt=0.05,
                         x_opt={"optimizer": "adam", "lr": 5e-4, "batch_size": 64, "beta1": 0.9,
                                "beta2": 0.999},
                         description=self.__doc__.split("\n\n")[0], tags=["conditional", "log", "categorical"])

    def lr_opt(self, opt: str, batch: int) -> float:
        _, _, lr256, expo, _ = self.BRANCH[opt]
        return lr256 * (batch / 256.0) ** expo

    def true_f(self, p: Mapping[str, Any]) -> float:
        opt = p["optimizer"]
        floor, c_lr, _, _, bs0 = self.BRANCH[opt]
        bs = int(p["batch_size"])
        lr_star = self.lr_opt(opt, bs)
        lr = float(p["lr"])
        if lr > 30 * lr_star:
            return 1.0
        loss = floor + c_lr * math.log10(lr / lr_star) ** 2 + 0.01 * math.log2(bs / bs0) ** 2
        if opt == "sgd":
            loss += 0.5 * (float(p["momentum"]) - 0.9) ** 2 + (0.0 if p["nesterov"] == "on" else 0.01)
        elif opt == "adam":
            loss += 0.4 * (float(p["beta1"]) - 0.9) ** 2 + 20.0 * (float(p["beta2"]) - 0.999) ** 2
        else:
            loss += 0.5 * (float(p["rho"]) - 0.9) ** 2
        return loss


# =========================================================================
# Registry
# =========================================================================

def hv_2d(points: Sequence[Sequence[float]], ref: Sequence[float]) -> float:
    """Exact 2-D hypervolume (minimisation) of ``points`` w.r.t. ``ref``."""
    pts = np.asarray([p for p in points if p[0] < ref[0] and p[1] < ref[1]], dtype=float)
    if len(pts) == 0:
        return 0.0
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]
    hv, best_f2 = 0.0, ref[1]
    front = []
    for f1, f2 in pts:
        if f2 < best_f2:
            front.append((f1, f2))
            best_f2 = f2
    for i, (f1, f2) in enumerate(front):
        nxt = front[i + 1][0] if i + 1 < len(front) else ref[0]
        hv += (nxt - f1) * (ref[1] - f2)
    return float(hv)


def _zdt1_max_hv(ref: Sequence[float]) -> float:
    """Closed form HV of the ZDT1 front f2 = 1 - sqrt(f1), f1 in [0,1], for ref >= (1, 1)."""
    r1, r2 = ref
    # integral_0^1 (r2 - 1 + sqrt(f1)) df1 + (r1 - 1) * r2
    return (r2 - 1) + 2.0 / 3.0 + (r1 - 1) * r2


H6_XOPT = [0.20168952, 0.15001069, 0.47687398, 0.27533243, 0.31165162, 0.65730054]
H6_MIN = -3.32236801141551
# Hartmann6 subject to x3 + x6 <= 1 (unconstrained optimum has x3 + x6 = 1.134).
# Optimum found by multi-start SLSQP (checked again in selftest.py).
H6_LINCON_XOPT = [0.21221094, 0.14717540, 0.36875075, 0.28045048, 0.30899376, 0.63124925]
H6_LINCON_MIN = -3.214011449443


def _build() -> Dict[str, Problem]:
    P: Dict[str, Problem] = {}

    def add(p: Problem) -> None:
        P[p.name] = p

    add(VectorProblem("branin", branin01, [(-5, 10), (0, 15)], f"{EVALSET}::Branin01",
                      f_opt=0.39788735772973816, x_opt=[-math.pi, 12.275], tags=["multi_min"]))
    add(VectorProblem("hartmann3", hartmann3, [(0, 1)] * 3, f"{EVALSET}::Hartmann3",
                      f_opt=-3.86278214782076, x_opt=[0.114614, 0.555649, 0.852547]))
    add(VectorProblem("hartmann6", hartmann6, [(0, 1)] * 6, f"{EVALSET}::Hartmann6",
                      f_opt=H6_MIN, x_opt=H6_XOPT))
    add(VectorProblem("rosenbrock4", rosenbrock, [(-5, 10)] * 4, "SFU Rosenbrock, d=4",
                      f_opt=0.0, x_opt=[1.0] * 4, tags=["valley"]))
    add(VectorProblem("ackley6", ackley, [(-10, 30)] * 6,
                      f"{EVALSET}::Ackley (dim=6, evalset asymmetric bounds [-10,30])",
                      f_opt=0.0, x_opt=[0.0] * 6, tags=["oscillatory"]))
    add(VectorProblem("levy4", levy, [(-10, 10)] * 4, "SFU Levy, d=4", f_opt=0.0, x_opt=[1.0] * 4,
                      tags=["multimodal"]))
    add(VectorProblem("styblinski_tang8", styblinski_tang, [(-5, 5)] * 8, f"{EVALSET}::StyblinskiTang (dim=8)",
                      f_opt=-39.16616570377142 * 8, x_opt=[-2.903534018185960] * 8, tags=["multimodal"]))
    add(MixedProblem())
    add(LogScaleProblem())
    add(VectorProblem(
        "hartmann6_lincon", hartmann6, [(0, 1)] * 6,
        f"{EVALSET}::Hartmann6 with linear constraint x3 + x6 <= 1 (evalset Constrainer-style)",
        f_opt=H6_LINCON_MIN, x_opt=H6_LINCON_XOPT,
        linear_constraints=[LinearConstraint({"x3": 1.0, "x6": 1.0}, 1.0, "less_than")],
        description="Hartmann6 s.t. x3 + x6 <= 1; constraint is active at the optimum, 50% of the box "
                    "is infeasible", tags=["constraint"]))
    add(ConditionalProblem())
    add(VectorProblem("hartmann6_noisy", hartmann6, [(0, 1)] * 6,
                      f"{EVALSET}::Noisifier(Hartmann6(), 'add', 0.1)", f_opt=H6_MIN, x_opt=H6_XOPT,
                      noise_std=0.1, tags=["noisy"],
                      description="additive N(0, 0.1^2) noise; regret is measured on the true value of "
                                  "the point with the best *observed* value"))
    # ---- multi-objective
    zref = [1.1, 1.1]
    add(VectorProblem("zdt1_4d", zdt1_evalset, [(0, 1)] * 4, f"{EVALSET_MC}::ZitzlerDebThiele01",
                      n_objectives=2, ref_point=zref, max_hv=_zdt1_max_hv(zref), tags=["multiobjective"],
                      description="front f2 = 1 - sqrt(f1); HV of the true front w.r.t. ref (1.1, 1.1) "
                                  "is closed-form"))
    add(VectorProblem("branin_currin", branin_currin, [(0, 1)] * 2,
                      "BoTorch BraninCurrin (ref point and max HV as in botorch.test_functions.multi_objective)",
                      n_objectives=2, ref_point=[18.0, 6.0], max_hv=59.36011874867746, tags=["multiobjective"]))
    return P


PROBLEMS: Dict[str, Problem] = _build()
SINGLE_OBJECTIVE = [n for n, p in PROBLEMS.items() if p.n_objectives == 1]
MULTI_OBJECTIVE = [n for n, p in PROBLEMS.items() if p.n_objectives > 1]


def get_problem(name: str) -> Problem:
    try:
        return PROBLEMS[name]
    except KeyError:
        raise KeyError(f"unknown problem {name!r}; choose from {sorted(PROBLEMS)}") from None
