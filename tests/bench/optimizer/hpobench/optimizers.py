"""The ask/tell protocol, the reference optimisers (numpy random search, Optuna 3.1) and the registry.

A run looks like::

    opt = make_optimizer("tpe", space, seed=3, directions=["minimize"])
    for _ in range(budget):
        params = opt.suggest()                    # dict: parameter name -> value (original units)
        value = f(params)                         # float, or list of floats (two objectives)
        opt.observe(params, value)                # or observe(params, None, failed=True)
    opt.close()

Names understood by :func:`make_optimizer`:

* ``random``  -- pure random search (numpy; log-uniform on log parameters)
* ``qmc``, ``tpe``, ``tpe-mv``, ``cmaes``, ``nsga2``, ``optuna-random`` -- Optuna 3.1 samplers
  (``tpe`` is MOTPE on two objectives)
* ``hpo:<algorithm>`` -- a real hpo-server over gRPC (see :mod:`hpobench.hpo_adapter`);
  ``hpo:`` alone uses the server's default algorithm.

Contract: ``suggest`` returns a complete assignment of the active parameters; the runner checks it
with :meth:`SearchSpace.check` and an infeasible one costs an evaluation (observed as failed).
Optuna 3.1 cannot honour linear input constraints, so its wrappers reject and resample
internally (no budget cost, counted in ``stats['rejected']``); TPE and NSGA-II get Optuna's
``constraints_func`` so the rejected draws teach the model (plain rejection loops forever with TPE).
"""

from __future__ import annotations

import warnings
import zlib
from collections import defaultdict, deque
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from .space import Parameter, SearchSpace

Value = Union[float, List[float], None]


class Optimizer:
    """Base class: ``suggest() -> dict`` and ``observe(params, value, failed=)``."""

    name = "optimizer"
    supports_multi_objective = False

    def __init__(self, space: SearchSpace, seed: int, directions: Sequence[str] = ("minimize",),
                 **options: Any) -> None:
        if len(directions) > 1 and not self.supports_multi_objective:
            raise ValueError(f"{self.name} does not support {len(directions)} objectives")
        self.space = space
        self.seed = int(seed)
        self.directions = list(directions)
        self.options = options
        self.stats: Dict[str, Any] = defaultdict(int)

    def suggest(self) -> Dict[str, Any]:
        raise NotImplementedError

    def observe(self, params: Mapping[str, Any], value: Value, *, failed: bool = False) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release resources (e.g. a remote experiment)."""

    def config(self) -> Dict[str, Any]:
        return {"name": self.name, "class": f"{type(self).__module__}.{type(self).__qualname__}"}


# ------------------------------------------------------------------------------- random search
class RandomSearch(Optimizer):
    """Uniform sampling (log-uniform on log parameters); rejection sampling for linear constraints."""

    name = "random"
    supports_multi_objective = True

    def __init__(self, space, seed, directions=("minimize",), **options: Any) -> None:
        super().__init__(space, seed, directions, **options)
        self._rng = np.random.default_rng(self.seed)

    def suggest(self) -> Dict[str, Any]:
        return self.space.sample_uniform(self._rng)

    def observe(self, params, value, *, failed=False) -> None:
        pass


# ------------------------------------------------------------------------------------- Optuna
def _optuna():
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def _distribution(p: Parameter):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    if p.type == "double":
        return FloatDistribution(float(p.low), float(p.high), log=p.log)
    if p.type == "int":
        return IntDistribution(int(p.low), int(p.high), log=p.log)
    return CategoricalDistribution(list(p.choices or []))


def _suggest(trial, p: Parameter) -> Any:
    if p.type == "double":
        return trial.suggest_float(p.name, float(p.low), float(p.high), log=p.log)
    if p.type == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
    return trial.suggest_categorical(p.name, list(p.choices or []))


def constraints_func(space: SearchSpace):
    """Optuna ``constraints_func`` for the space's linear constraints (None if there are none)."""
    if not space.linear_constraints:
        return None
    return lambda frozen: space.constraint_violations(frozen.params)


def sampler_seed(seed: int) -> int:
    """Optuna treats seed=0 as 'no seed' in some samplers (QMC); map to a positive 31-bit int."""
    return (zlib.crc32(f"optuna-seed-{seed}".encode()) & 0x7FFFFFFF) or 1


class OptunaOptimizer(Optimizer):
    """``sampler_factory(seed, space) -> BaseSampler`` behind the protocol.

    The space is replayed define-by-run on every ``study.ask()`` (``suggest_*`` in declaration
    order, inactive conditional parameters skipped), as an Optuna user would write the objective.
    """

    supports_multi_objective = True

    def __init__(self, space: SearchSpace, seed: int, directions=("minimize",), *,
                 sampler_factory: Callable[[int, SearchSpace], Any], name: str = "optuna",
                 multi_objective: bool = True, description: str = "", max_rejections: int = 2000,
                 **options: Any) -> None:
        self.name = name
        self.supports_multi_objective = multi_objective
        super().__init__(space, seed, directions, **options)
        optuna = _optuna()
        self._TrialState = optuna.trial.TrialState
        self.sampler = sampler_factory(sampler_seed(self.seed), space)
        self._constraint_aware = getattr(self.sampler, "_constraints_func", None) is not None
        self._worst_value: Optional[List[float]] = None
        self.description = description
        self.study = optuna.create_study(directions=self.directions, sampler=self.sampler)
        self.max_rejections = max_rejections
        self._pending: Dict[str, Deque[Any]] = defaultdict(deque)

    def _ask(self):
        trial = self.study.ask()
        params: Dict[str, Any] = {}
        for p in self.space:
            if self.space.is_active(p, params):
                params[p.name] = _suggest(trial, p)
        return trial, params

    def suggest(self) -> Dict[str, Any]:
        for _ in range(self.max_rejections + 1):
            trial, params = self._ask()
            if all(v <= 0 for v in self.space.constraint_violations(params)):
                self._pending[self.space.canonical_key(params)].append(trial)
                return params
            if self._constraint_aware:  # teach the sampler; the objective value is a placeholder
                self.study.tell(trial, self._worst_value if self._worst_value is not None
                                else [0.0] * len(self.directions))
            else:
                self.study.tell(trial, state=self._TrialState.FAIL)
            self.stats["rejected"] += 1
        raise RuntimeError(f"{self.name}: no feasible suggestion after {self.max_rejections} rejections")

    def observe(self, params, value, *, failed=False) -> None:
        q = self._pending.get(self.space.canonical_key(params))
        trial = q.popleft() if q else None
        if trial is None:
            raise KeyError("observe() for a point that was not suggested")
        if failed or value is None:
            self.study.tell(trial, state=self._TrialState.FAIL)
            return
        vals = [float(v) for v in value] if isinstance(value, (list, tuple)) else [float(value)]
        self.study.tell(trial, vals)
        self._worst_value = list(vals) if self._worst_value is None else [
            max(w, v) if d == "minimize" else min(w, v)
            for w, v, d in zip(self._worst_value, vals, self.directions)]

    def config(self) -> Dict[str, Any]:
        import optuna
        c = super().config()
        c.update({"optuna_version": optuna.__version__, "sampler": type(self.sampler).__name__,
                  "description": self.description})
        return c


def _samplers():
    return _optuna().samplers


# name -> (description, sampler factory(seed, space), supports two objectives)
OPTUNA_SAMPLERS: Dict[str, tuple] = {
    "optuna-random": ("optuna.samplers.RandomSampler()",
                      lambda s, sp: _samplers().RandomSampler(seed=s), True),
    "qmc": ("optuna.samplers.QMCSampler(qmc_type='sobol', scramble=True); first trial random",
            lambda s, sp: _samplers().QMCSampler(qmc_type="sobol", scramble=True, seed=s,
                                                 warn_independent_sampling=False,
                                                 warn_asynchronous_seeding=False), True),
    "tpe": ("optuna.samplers.TPESampler() defaults (independent TPE, n_startup_trials=10; "
            "MOTPE on two objectives); constraints_func for linear constraints",
            lambda s, sp: _samplers().TPESampler(seed=s, constraints_func=constraints_func(sp)), True),
    "tpe-mv": ("TPESampler(multivariate=True, group=True), n_startup_trials=10; constraints_func",
               lambda s, sp: _samplers().TPESampler(seed=s, multivariate=True, group=True,
                                                    warn_independent_sampling=False,
                                                    constraints_func=constraints_func(sp)), True),
    "cmaes": ("optuna.samplers.CmaEsSampler() defaults (x0=centre, sigma0=range/6; "
              "categorical/conditional params fall back to random)",
              lambda s, sp: _samplers().CmaEsSampler(seed=s, warn_independent_sampling=False), False),
    "nsga2": ("optuna.samplers.NSGAIISampler(population_size=20); constraints_func",
              lambda s, sp: _samplers().NSGAIISampler(seed=s, population_size=20,
                                                      constraints_func=constraints_func(sp)), True),
}

BASELINE_NAMES = ["random"] + list(OPTUNA_SAMPLERS)


def is_hpo(name: str) -> bool:
    return name.startswith("hpo:")


def hpo_algorithm(name: str) -> str:
    return name.split(":", 1)[1]


def describe(name: str) -> str:
    if name == "random":
        return "pure random search (numpy; log-uniform on log params)"
    if name in OPTUNA_SAMPLERS:
        return OPTUNA_SAMPLERS[name][0]
    if is_hpo(name):
        algo = hpo_algorithm(name) or "(server default)"
        return f"hpo-server over gRPC, optimizer.algorithm = {algo!r}, parallel_bandwidth 1"
    return name


def supports_multi_objective(name: str) -> bool:
    if name == "random" or is_hpo(name):
        return True
    return bool(OPTUNA_SAMPLERS[name][2])


def make_optimizer(name: str, space: SearchSpace, seed: int, directions: Sequence[str] = ("minimize",),
                   **kw: Any) -> Optimizer:
    if name == "random":
        return RandomSearch(space, seed, directions, **kw)
    if name in OPTUNA_SAMPLERS:
        desc, factory, mo = OPTUNA_SAMPLERS[name]
        return OptunaOptimizer(space, seed, directions, sampler_factory=factory, name=name,
                               multi_objective=mo, description=desc, **kw)
    if is_hpo(name):
        from .hpo_adapter import HpoOptimizer
        return HpoOptimizer(space, seed, directions, algorithm=hpo_algorithm(name), **kw)
    raise KeyError(f"unknown optimizer {name!r}; known: {BASELINE_NAMES} or hpo:<algorithm>")
