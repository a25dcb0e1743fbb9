"""Fast self-checks of the benchmark harness (no server, a few seconds):

    PYTHONPATH=tests/bench/optimizer /usr/bin/python3 -m hpobench.selftest

* every single-objective problem attains its declared optimum at its declared minimiser, and no
  random point beats it;
* the 2-D hypervolume, and the two-objective optima (no random point set exceeds HV*);
* every search space translates into an hpo Experiment (conditionals, log, constraints, metrics) and
  random assignments survive the Assignment encode/decode round trip;
* every Optuna baseline runs a few trials on every problem it supports.
"""

from __future__ import annotations

from .common import limit_threads

limit_threads()

import sys  # noqa: E402
import unittest  # noqa: E402

import numpy as np  # noqa: E402

from .optimizers import BASELINE_NAMES, make_optimizer, supports_multi_objective  # noqa: E402
from .problems import PROBLEMS, hv_2d  # noqa: E402


class ProblemTests(unittest.TestCase):
    def test_optima(self):
        rng = np.random.default_rng(0)
        for name, p in PROBLEMS.items():
            if p.n_objectives != 1:
                continue
            self.assertIsNone(p.space.check(p.x_opt), name)
            self.assertAlmostEqual(p.true_f(p.x_opt), p.f_opt, delta=1e-4 * max(1, abs(p.f_opt)), msg=name)
            best = min(p.true_f(p.space.sample_uniform(rng)) for _ in range(2000))
            self.assertGreaterEqual(best, p.f_opt - 1e-9, name)

    def test_hv(self):
        self.assertAlmostEqual(hv_2d([[0, 1], [1, 0]], [2, 2]), 3.0)
        self.assertAlmostEqual(hv_2d([[0.5, 0.5], [0.6, 0.6], [3, 0]], [1, 1]), 0.25)
        rng = np.random.default_rng(1)
        for name, p in PROBLEMS.items():
            if p.n_objectives == 2:
                pts = [p.true_f(p.space.sample_uniform(rng)) for _ in range(3000)]
                self.assertLessEqual(hv_2d(pts, p.ref_point), p.max_hv + 1e-9, name)

    def test_noise_is_common_random_numbers(self):
        p = PROBLEMS["hartmann6_noisy"]
        a = p.evaluate(p.x_opt, np.random.default_rng(5)).value
        b = p.evaluate(p.x_opt, np.random.default_rng(5)).value
        self.assertEqual(a, b)


class TranslationTests(unittest.TestCase):
    def test_every_space_translates(self):
        from .hpo_adapter import decode_assignment, encode_assignment, pb, to_experiment
        experiment_pb2, ss, _, _ = pb()
        rng = np.random.default_rng(2)
        for name, p in PROBLEMS.items():
            e = to_experiment(p.space, ["minimize"] * p.n_objectives, name=name, algorithm="random", seed=3,
                              observation_budget=100)
            self.assertEqual(len(e.metrics), p.n_objectives, name)
            self.assertTrue(all(m.objective == experiment_pb2.OBJECTIVE_MINIMIZE for m in e.metrics))
            self.assertEqual((e.optimizer.algorithm, e.optimizer.seed, e.parallel_bandwidth), ("random", 3, 1))
            names = {q.name for q in e.search_space.parameters} | {c.name for c in e.search_space.conditionals}
            self.assertEqual(names, set(p.space.names), name)
            self.assertEqual(len(e.search_space.linear_constraints), len(p.space.linear_constraints), name)
            for q in e.search_space.parameters:
                self.assertEqual(q.transformation == ss.TRANSFORMATION_LOG, p.space[q.name].log, name)
            for _ in range(20):
                x = p.space.sample_uniform(rng)
                self.assertEqual(decode_assignment(p.space, encode_assignment(p.space, x)), x, name)
        e = to_experiment(PROBLEMS["conditional"].space, ["minimize"], name="c", algorithm="", seed=1,
                          observation_budget=10)
        self.assertEqual([c.name for c in e.search_space.conditionals], ["optimizer"])
        beta1 = [q for q in e.search_space.parameters if q.name == "beta1"][0]
        self.assertEqual([(c.name, list(c.values)) for c in beta1.conditions], [("optimizer", ["adam"])])


class BaselineTests(unittest.TestCase):
    def test_baselines_run(self):
        for name, p in PROBLEMS.items():
            for o in BASELINE_NAMES:
                if p.n_objectives > 1 and not supports_multi_objective(o):
                    continue
                opt = make_optimizer(o, p.space, seed=1, directions=["minimize"] * p.n_objectives)
                rng = np.random.default_rng(0)
                for _ in range(3):
                    x = opt.suggest()
                    self.assertIsNone(p.space.check(x), f"{o} on {name}")
                    opt.observe(x, p.evaluate(x, rng).value)


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=1).result.wasSuccessful() else 1)
