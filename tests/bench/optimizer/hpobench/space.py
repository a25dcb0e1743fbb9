"""Neutral, JSON-serialisable search-space description (translated to hpo by ``hpo_adapter``).

The format deliberately mirrors the SigOpt experiment API so that the same
JSON can later be posted to a SigOpt-style service unchanged::

    {
      "parameters": [
        {"name": "x1", "type": "double", "bounds": {"min": -5, "max": 10}},
        {"name": "lr", "type": "double", "bounds": {"min": 1e-5, "max": 1},
         "transformation": "log"},
        {"name": "depth", "type": "int", "bounds": {"min": 1, "max": 12}},
        {"name": "opt", "type": "categorical", "categorical_values": ["sgd", "adam"]},
        {"name": "momentum", "type": "double", "bounds": {"min": 0, "max": 0.99},
         "conditions": {"opt": ["sgd"]}}
      ],
      "linear_constraints": [
        {"type": "less_than", "threshold": 1.0,
         "terms": [{"name": "x1", "weight": 1.0}, {"name": "x2", "weight": 1.0}]}
      ]
    }

Semantics
---------
* ``type`` is ``double`` | ``int`` | ``categorical``.
* ``transformation: "log"`` (double/int only, min > 0) means the optimiser
  should treat the parameter on a log scale.  Values are always exchanged in
  the *original* (untransformed) units.
* ``conditions`` makes a parameter active only when every named parent
  (a categorical parameter declared *earlier*) takes one of the listed
  values.  Inactive parameters must be absent from an assignment.  (In the
  SigOpt API the parent would live in ``conditionals``; here it is a plain
  categorical parameter, as in ConfigSpace / Optuna define-by-run.)
* ``linear_constraints`` follow SigOpt: ``sum(weight * value) <= threshold``
  for ``less_than`` and ``>=`` for ``greater_than``; only double parameters
  that are always active may appear in them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

PARAM_TYPES = ("double", "int", "categorical")
_FEAS_TOL = 1e-9


@dataclass
class Parameter:
    """One parameter of a search space (see module docstring for semantics)."""

    name: str
    type: str
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    choices: Optional[List[Any]] = None
    conditions: Dict[str, List[Any]] = field(default_factory=dict)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"name": self.name, "type": self.type}
        if self.type == "categorical":
            d["categorical_values"] = list(self.choices or [])
        else:
            lo, hi = (int(self.low), int(self.high)) if self.type == "int" else (self.low, self.high)
            d["bounds"] = {"min": lo, "max": hi}
            if self.log:
                d["transformation"] = "log"
        if self.conditions:
            d["conditions"] = {k: list(v) for k, v in self.conditions.items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Parameter":
        ptype = d["type"]
        if ptype not in PARAM_TYPES:
            raise ValueError(f"parameter {d.get('name')!r}: unknown type {ptype!r}")
        if ptype == "categorical":
            values = d["categorical_values"]
            # accept SigOpt's [{"name": "a"}, ...] form as well as plain values
            choices = [v["name"] if isinstance(v, Mapping) else v for v in values]
            return cls(name=d["name"], type=ptype, choices=choices,
                       conditions=dict(d.get("conditions", {})))
        b = d["bounds"]
        return cls(name=d["name"], type=ptype, low=b["min"], high=b["max"],
                   log=d.get("transformation") == "log",
                   conditions=dict(d.get("conditions", {})))

    # ------------------------------------------------------------ utilities
    def validate(self) -> None:
        if self.type == "categorical":
            if not self.choices or len(set(map(repr, self.choices))) != len(self.choices):
                raise ValueError(f"{self.name}: categorical_values must be non-empty and unique")
            if self.log:
                raise ValueError(f"{self.name}: log transformation is not allowed on categoricals")
            return
        if self.low is None or self.high is None or not self.low < self.high:
            raise ValueError(f"{self.name}: need bounds min < max")
        if self.type == "int" and (int(self.low) != self.low or int(self.high) != self.high):
            raise ValueError(f"{self.name}: int bounds must be integers")
        if self.log and self.low <= 0:
            raise ValueError(f"{self.name}: log transformation needs min > 0")

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a legal value of this parameter."""
        if self.type == "categorical":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            return False
        if self.type == "int" and int(value) != value:
            return False
        return self.low - _FEAS_TOL <= float(value) <= self.high + _FEAS_TOL

    def to_unit(self, value: Any) -> float:
        """Map a numeric value to [0, 1] (log-scaled when ``log``)."""
        lo, hi, v = float(self.low), float(self.high), float(value)
        if self.log:
            lo, hi, v = math.log(lo), math.log(hi), math.log(v)
        return (v - lo) / (hi - lo)

    def from_unit(self, u: float) -> Any:
        """Inverse of :meth:`to_unit`; integers are rounded (in the original scale)."""
        u = min(max(float(u), 0.0), 1.0)
        lo, hi = float(self.low), float(self.high)
        if self.type == "int":
            # widen by half a step so each integer gets an equal share of [0, 1]
            if self.log:
                a, b = math.log(lo - 0.5 if lo > 0.5 else lo), math.log(hi + 0.5)
                v = math.exp(a + u * (b - a))
            else:
                v = (lo - 0.5) + u * (hi - lo + 1.0)
            return int(min(max(round(v), self.low), self.high))
        if self.log:
            v = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        else:
            v = lo + u * (hi - lo)
        return min(max(v, lo), hi)


@dataclass
class LinearConstraint:
    """``sum(w_i * x_i) <= threshold`` (less_than) or ``>=`` (greater_than)."""

    terms: Dict[str, float]
    threshold: float
    type: str = "less_than"

    def to_dict(self) -> Dict[str, Any]:
        return {"type": self.type, "threshold": self.threshold,
                "terms": [{"name": k, "weight": w} for k, w in self.terms.items()]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LinearConstraint":
        if d.get("type", "less_than") not in ("less_than", "greater_than"):
            raise ValueError(f"unknown linear constraint type {d.get('type')!r}")
        return cls(terms={t["name"]: float(t["weight"]) for t in d["terms"]},
                   threshold=float(d["threshold"]), type=d.get("type", "less_than"))

    def violation(self, params: Mapping[str, Any]) -> float:
        """Signed violation: <= 0 means satisfied."""
        s = sum(w * float(params[k]) for k, w in self.terms.items())
        return s - self.threshold if self.type == "less_than" else self.threshold - s


class SearchSpace:
    """An ordered list of parameters plus optional linear constraints."""

    def __init__(self, parameters: Sequence[Parameter],
                 linear_constraints: Sequence[LinearConstraint] = ()):
        self.parameters: List[Parameter] = list(parameters)
        self.linear_constraints: List[LinearConstraint] = list(linear_constraints)
        self._by_name = {p.name: p for p in self.parameters}
        self.validate()

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"parameters": [p.to_dict() for p in self.parameters]}
        if self.linear_constraints:
            d["linear_constraints"] = [c.to_dict() for c in self.linear_constraints]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SearchSpace":
        return cls([Parameter.from_dict(p) for p in d["parameters"]],
                   [LinearConstraint.from_dict(c) for c in d.get("linear_constraints", [])])

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    # ------------------------------------------------------------ structure
    def __getitem__(self, name: str) -> Parameter:
        return self._by_name[name]

    def __iter__(self):
        return iter(self.parameters)

    def __len__(self) -> int:
        return len(self.parameters)

    @property
    def names(self) -> List[str]:
        return [p.name for p in self.parameters]

    @property
    def is_conditional(self) -> bool:
        return any(p.conditions for p in self.parameters)

    @property
    def has_categorical(self) -> bool:
        return any(p.type == "categorical" for p in self.parameters)

    def validate(self) -> None:
        seen: Dict[str, Parameter] = {}
        for p in self.parameters:
            p.validate()
            if p.name in seen:
                raise ValueError(f"duplicate parameter {p.name!r}")
            for parent, allowed in p.conditions.items():
                if parent not in seen or seen[parent].type != "categorical":
                    raise ValueError(f"{p.name}: condition parent {parent!r} must be an earlier "
                                     "categorical parameter")
                bad = [v for v in allowed if v not in seen[parent].choices]
                if bad:
                    raise ValueError(f"{p.name}: condition values {bad} not in {parent!r}")
            seen[p.name] = p
        for c in self.linear_constraints:
            for k in c.terms:
                if k not in seen or seen[k].type != "double" or seen[k].conditions:
                    raise ValueError(f"linear constraint term {k!r} must be an unconditional double")

    def is_active(self, p: Parameter, partial: Mapping[str, Any]) -> bool:
        """Whether ``p`` is active given the (partial) assignment of its parents."""
        return all(partial.get(parent) in allowed for parent, allowed in p.conditions.items())

    def active_parameters(self, assignment: Mapping[str, Any]) -> List[Parameter]:
        return [p for p in self.parameters if self.is_active(p, assignment)]

    # ---------------------------------------------------------- feasibility
    def check(self, params: Mapping[str, Any]) -> Optional[str]:
        """Return ``None`` if ``params`` is a complete feasible assignment, else a reason."""
        active = {p.name for p in self.active_parameters(params)}
        extra = set(params) - active
        if extra:
            return f"inactive/unknown parameters assigned: {sorted(extra)}"
        for name in active:
            if name not in params:
                return f"missing parameter {name!r}"
            if not self._by_name[name].contains(params[name]):
                return f"parameter {name!r}={params[name]!r} out of domain"
        for c in self.linear_constraints:
            if c.violation(params) > _FEAS_TOL:
                return f"linear constraint violated by {c.violation(params):.3g}"
        return None

    def is_feasible(self, params: Mapping[str, Any]) -> bool:
        return self.check(params) is None

    def constraint_violations(self, params: Mapping[str, Any]) -> List[float]:
        return [c.violation(params) for c in self.linear_constraints]

    # -------------------------------------------------------------- sampling
    def sample_uniform(self, rng: np.random.Generator, max_tries: int = 10000) -> Dict[str, Any]:
        """Uniform sample (log-uniform for log parameters), rejection for constraints."""
        for _ in range(max_tries):
            params: Dict[str, Any] = {}
            for p in self.parameters:
                if not self.is_active(p, params):
                    continue
                if p.type == "categorical":
                    params[p.name] = p.choices[int(rng.integers(len(p.choices)))]
                else:
                    params[p.name] = p.from_unit(rng.random())
            if all(c.violation(params) <= 0 for c in self.linear_constraints):
                return params
        raise RuntimeError("could not sample a feasible point (constraints too tight?)")

    def canonical_key(self, params: Mapping[str, Any]) -> str:
        """A stable string key for an assignment (used to match observe() to suggest())."""
        return json.dumps({k: _to_builtin(params[k]) for k in sorted(params)}, sort_keys=True)


def _to_builtin(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def double(name: str, low: float, high: float, log: bool = False, **conditions: List[Any]) -> Parameter:
    """Shorthand constructor for a double parameter."""
    return Parameter(name, "double", float(low), float(high), log=log, conditions=conditions)


def integer(name: str, low: int, high: int, log: bool = False, **conditions: List[Any]) -> Parameter:
    """Shorthand constructor for an int parameter."""
    return Parameter(name, "int", int(low), int(high), log=log, conditions=conditions)


def categorical(name: str, choices: Sequence[Any], **conditions: List[Any]) -> Parameter:
    """Shorthand constructor for a categorical parameter."""
    return Parameter(name, "categorical", choices=list(choices), conditions=conditions)
