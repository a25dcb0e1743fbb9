#!/usr/bin/python3
"""End-to-end test of the dashboard in real headless Chromium.

Starts a real hpo-server (gRPC + dashboard HTTP) on a temporary SQLite file, seeds three
experiments through the real gRPC services, computes what the page must show from what it seeded,
and runs browser_test.mjs (Node + playwright-core driving /usr/bin/chromium) against the page:

- "image-classifier": finished (completed) experiment, 3 parameters (double with log, int,
  categorical), one optimized metric, budget 60 (> one page of the observations table), a few
  queued suggestions and a few failed observations;
- "cnn-curves": running experiment with learning curves, a median pruner and two workers: trials
  completed, pruned (stopped by the pruner, with a stop reason), failed, and one still leased and
  mid-curve;
- "ranker-pareto": two optimized metrics (auc maximize, latency minimize) and a constraint metric,
  with budget left, so that the browser test can observe one more result (through hpo-cli) and see
  the page update without a reload.

Usage: dashboard_browser_test.py --server_bin PATH --cli_bin PATH --dashboard_dir DIR
                                 --source_dir DIR [--node_bin PATH] [--screenshots DIR]
"""
import argparse
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Server, generate_stubs  # noqa: E402

ARGS = None
HERE = os.path.dirname(os.path.abspath(__file__))


def pareto_front(points, maximize_x, maximize_y):
    """Indices of the non-dominated points (x, y)."""
    def better_or_equal(a, b, maximize):
        return a >= b if maximize else a <= b

    def strictly_better(a, b, maximize):
        return a > b if maximize else a < b

    front = []
    for i, (xi, yi) in enumerate(points):
        dominated = False
        for j, (xj, yj) in enumerate(points):
            if i == j:
                continue
            if (better_or_equal(xj, xi, maximize_x) and better_or_equal(yj, yi, maximize_y) and
                    (strictly_better(xj, xi, maximize_x) or strictly_better(yj, yi, maximize_y))):
                dominated = True
                break
        if not dominated:
            front.append(i)
    return front


class Seeder:
    """Creates the experiments through the real gRPC services and records what it sent.

    Expectations are computed from that record (what was seeded), not read back from the server.
    """

    def __init__(self, address):
        import grpc
        from hpo.v1 import (experiment_pb2, experiment_service_pb2, experiment_service_pb2_grpc,
                            search_space_pb2, trial_service_pb2, trial_service_pb2_grpc)
        self.e = experiment_pb2
        self.s = experiment_service_pb2
        self.ss = search_space_pb2
        self.t = trial_service_pb2
        channel = grpc.insecure_channel(address)
        grpc.channel_ready_future(channel).result(timeout=30)
        self.exp = experiment_service_pb2_grpc.ExperimentServiceStub(channel)
        self.trials = trial_service_pb2_grpc.TrialServiceStub(channel)
        self.rng = random.Random(20240611)
        self.specs = {}    # experiment id -> the Experiment sent
        self.results = {}  # experiment id -> [{"suggestion", "failed", "values", "assignment"}]
        self.issued = {}   # experiment id -> {suggestion id: source}
        self.leases = {}   # worker id -> suggestion id it holds now (0: idle)

    # ---- gRPC calls that record what they did ----
    def create(self, experiment):
        eid = self.exp.CreateExperiment(
            self.s.CreateExperimentRequest(experiment=experiment)).experiment.id
        self.specs[eid] = experiment
        self.results[eid] = []
        self.issued[eid] = {}
        return eid

    def queue(self, experiment_id, **values):
        a = self.ss.Assignment()
        for name, v in values.items():
            if isinstance(v, str):
                a.values[name].string_value = v
            elif isinstance(v, int):
                a.values[name].int_value = v
            else:
                a.values[name].number_value = v
        self.exp.QueueSuggestion(self.s.QueueSuggestionRequest(experiment_id=experiment_id,
                                                               assignment=a))

    def suggest(self, experiment_id):
        sug = self.exp.CreateSuggestion(
            self.s.CreateSuggestionRequest(experiment_id=experiment_id)).suggestion
        self.issued[experiment_id][sug.id] = sug.source
        return sug

    def _record(self, experiment_id, sug, values, failed):
        self.results[experiment_id].append({
            "suggestion": sug.id, "failed": failed, "values": dict(values or {}),
            "assignment": {name: self.value(sug.assignment, name) for name in sug.assignment.values}})

    def observe(self, experiment_id, sug, values=None, failed=False, reason=""):
        request = self.s.CreateObservationRequest(experiment_id=experiment_id,
                                                  suggestion_id=sug.id, failed=failed,
                                                  failure_reason=reason)
        for name, value in (values or {}).items():
            request.values.add(name=name, value=value)
        self.exp.CreateObservation(request)
        self._record(experiment_id, sug, values, failed)

    def register(self, name, host, threads):
        worker_id = self.trials.RegisterWorker(self.t.RegisterWorkerRequest(
            worker=self.t.WorkerInfo(name=name, host=host, threads=threads))).worker_id
        self.leases[worker_id] = 0
        return worker_id

    def lease(self, worker_id, experiment_id):
        response = self.trials.LeaseTrial(
            self.t.LeaseTrialRequest(worker_id=worker_id, experiment_id=experiment_id))
        assert response.HasField("suggestion"), "no trial to lease for %s" % worker_id
        sug = response.suggestion
        self.issued[experiment_id][sug.id] = sug.source
        self.leases[worker_id] = sug.id
        return sug

    def report(self, worker_id, suggestion_id, step, value):
        report = self.t.ProgressReport(worker_id=worker_id, suggestion_id=suggestion_id)
        report.checkpoint.step = step
        report.checkpoint.elapsed_seconds = 3.0 * step
        report.checkpoint.metrics.add(name="accuracy", value=value)
        decisions = list(self.trials.ReportProgress(iter([report]), timeout=30))
        assert len(decisions) == 1, decisions
        return decisions[0]

    def complete(self, worker_id, experiment_id, sug, value=None, failed=False, reason=""):
        request = self.t.CompleteTrialRequest(worker_id=worker_id, suggestion_id=sug.id,
                                              failed=failed, failure_reason=reason)
        values = {} if value is None else {"accuracy": value}
        for name, v in values.items():
            request.values.add(name=name, value=v)
        self.trials.CompleteTrial(request)
        self.leases[worker_id] = 0
        self._record(experiment_id, sug, values, failed)

    def run_curve(self, worker_id, suggestion_id, values, expect_stop_at=None):
        """Reports values at steps 1..n; returns the stop reason when the pruner stopped it."""
        for step, value in enumerate(values, start=1):
            d = self.report(worker_id, suggestion_id, step, value)
            if d.decision == self.t.DECISION_STOP:
                assert expect_stop_at == step, (
                    "suggestion %d stopped at step %d (%s), expected %s" %
                    (suggestion_id, step, d.reason, expect_stop_at))
                assert d.reason, "a stop decision without a reason"
                return d.reason
            assert d.decision == self.t.DECISION_CONTINUE, d
        assert expect_stop_at is None, "suggestion %d was not stopped" % suggestion_id
        return None

    @staticmethod
    def value(assignment, name):
        v = assignment.values[name]
        return getattr(v, v.WhichOneof("kind"))

    # ---- expectations ----
    def expectations(self, experiment_id, primary, maximize):
        """What every experiment view must show, from what was seeded."""
        spec = self.specs[experiment_id]
        results = self.results[experiment_id]
        # Sanity: the server stored exactly what was sent (the page is checked against the record).
        stored = self.exp.ListObservations(
            self.s.ListObservationsRequest(experiment_id=experiment_id)).observations
        assert [o.suggestion_id for o in stored] == [r["suggestion"] for r in results], (
            "stored observations differ from the seeded ones")
        scored = [(i + 1, r["values"][primary]) for i, r in enumerate(results) if not r["failed"]]
        observed = {r["suggestion"] for r in results}
        sources = {}
        for source in self.issued[experiment_id].values():
            sources[source or "unknown"] = sources.get(source or "unknown", 0) + 1
        n_params = len(spec.search_space.parameters)
        best = (max if maximize else min)(v for _, v in scored)
        return {
            "id": str(experiment_id),
            "name": spec.name,
            "budget": spec.observation_budget,
            "state": "completed" if len(results) >= spec.observation_budget else "active",
            "observations": len(results),
            "failed": sum(1 for r in results if r["failed"]),
            "non_failed": len(scored),
            # Suggestions issued and not observed (the list's "Running" column).
            "open": sum(1 for sid in self.issued[experiment_id] if sid not in observed),
            "primary": primary,
            "best": best,
            # Sorting by the primary metric: the trial holding its smallest / largest value.
            "min_trial": min(scored, key=lambda tv: tv[1])[0],
            "max_trial": max(scored, key=lambda tv: tv[1])[0],
            "parameters": [p.name for p in spec.search_space.parameters],
            "importance_bars": n_params if len(scored) >= 3 else 0,
            "parallel_points": len(scored),
            "slice_points": n_params * len(scored),
            "sources": sources,
            "source_kinds": len(sources),
            "suggestions": sum(sources.values()),
            "curves": 0,
            "curve_statuses": "",
        }

    def workers_view(self, experiment_id):
        """Worker rows of the experiment's page: workers leasing from it, and live idle ones."""
        rows = []
        for worker_id, suggestion_id in self.leases.items():
            if suggestion_id == 0:
                rows.append({"worker_id": worker_id, "live": True, "trial": None})
            elif suggestion_id in self.issued[experiment_id]:
                rows.append({"worker_id": worker_id, "live": True, "trial": str(suggestion_id)})
        return rows

    # ---- the finished experiment ----
    def seed_finished(self):
        e, ss = self.e, self.ss
        exp = e.Experiment(name="image-classifier", project="vision", observation_budget=60,
                           parallel_bandwidth=1)
        exp.search_space.parameters.add(name="learning_rate", type=ss.PARAMETER_TYPE_DOUBLE,
                                        bounds=ss.Bounds(min=1e-4, max=1.0),
                                        transformation=ss.TRANSFORMATION_LOG)
        exp.search_space.parameters.add(name="units", type=ss.PARAMETER_TYPE_INT,
                                        bounds=ss.Bounds(min=16, max=256))
        exp.search_space.parameters.add(name="activation", type=ss.PARAMETER_TYPE_CATEGORICAL,
                                        categorical_values=["relu", "tanh", "gelu"])
        exp.metrics.add(name="score", objective=e.OBJECTIVE_MAXIMIZE)
        exp.optimizer.algorithm = "random"
        exp.optimizer.seed = 7
        eid = self.create(exp)
        # Three user-queued assignments come first ("queued" source), then the optimizer's.
        for lr, units, act in [(0.01, 128, "relu"), (0.001, 64, "tanh"), (0.1, 32, "gelu")]:
            self.queue(eid, learning_rate=lr, units=units, activation=act)
        bonus = {"relu": 0.30, "tanh": 0.10, "gelu": 0.22}
        failed_reason = "simulated crash: out of memory"
        for i in range(exp.observation_budget):
            sug = self.suggest(eid)
            if i % 10 == 7:
                self.observe(eid, sug, failed=True, reason=failed_reason)
                continue
            lr = self.value(sug.assignment, "learning_rate")
            units = self.value(sug.assignment, "units")
            act = self.value(sug.assignment, "activation")
            score = (1.0 - 0.08 * (math.log10(lr) + 2.5) ** 2 + 0.001 * units + bonus[act] +
                     self.rng.uniform(-0.02, 0.02))
            self.observe(eid, sug, {"score": score})
        x = self.expectations(eid, "score", True)
        assert x["state"] == "completed" and x["observations"] > 50, x  # two table pages
        results = self.results[eid]
        x["failure_reason"] = failed_reason
        x["filter_failed"] = sum(1 for r in results if r["failed"])
        x["filter_tanh"] = sum(1 for r in results if r["assignment"]["activation"] == "tanh")
        return x

    # ---- the running experiment with learning curves ----
    def seed_running(self):
        e, ss = self.e, self.ss
        exp = e.Experiment(name="cnn-curves", project="vision", observation_budget=20,
                           parallel_bandwidth=2)
        exp.search_space.parameters.add(name="lr", type=ss.PARAMETER_TYPE_DOUBLE,
                                        bounds=ss.Bounds(min=1e-5, max=1e-1),
                                        transformation=ss.TRANSFORMATION_LOG)
        exp.search_space.parameters.add(name="batch_size", type=ss.PARAMETER_TYPE_INT,
                                        bounds=ss.Bounds(min=16, max=512))
        exp.search_space.parameters.add(name="optimizer", type=ss.PARAMETER_TYPE_CATEGORICAL,
                                        categorical_values=["sgd", "adam"])
        exp.metrics.add(name="accuracy", objective=e.OBJECTIVE_MAXIMIZE)
        exp.optimizer.algorithm = "random"
        exp.optimizer.seed = 11
        exp.pruner.median.startup_trials = 2
        exp.pruner.median.warmup_steps = 2
        exp.training.max_steps = 5
        exp.training.eval_every_steps = 1
        eid = self.create(exp)
        a = self.register("trainer-a", "gpu-node-1", 8)
        b = self.register("trainer-b", "gpu-node-2", 4)

        def good(base):
            return [base + 0.05 * step + self.rng.uniform(0, 0.01) for step in range(5)]

        statuses = {}      # suggestion id -> the curve's status
        stop_reasons = {}  # suggestion id -> the pruner's reason
        # Two complete curves: the median pruner's startup trials.
        for base in (0.55, 0.62):
            s = self.lease(a, eid)
            curve = good(base)
            self.run_curve(a, s.id, curve)
            self.complete(a, eid, s, curve[-1])
            statuses[s.id] = "completed"
        # Two poor curves, stopped by the median rule at step 2 (the first after the warm-up).
        for worker, base in ((a, 0.10), (b, 0.15)):
            s = self.lease(worker, eid)
            reason = self.run_curve(worker, s.id, [base, base + 0.01, base + 0.02], expect_stop_at=2)
            self.complete(worker, eid, s, base + 0.01)
            statuses[s.id] = "pruned"
            stop_reasons[s.id] = reason
        # Later good curves start above the median of the first two, so they are never stopped.
        # A good run that crashes at step 3.
        s = self.lease(a, eid)
        self.run_curve(a, s.id, good(0.70)[:3])
        self.complete(a, eid, s, failed=True, reason="worker process crashed (simulated)")
        statuses[s.id] = "failed"
        # One more completed trial.
        s = self.lease(a, eid)
        curve = good(0.76)
        self.run_curve(a, s.id, curve)
        self.complete(a, eid, s, curve[-1])
        statuses[s.id] = "completed"
        # Worker b is mid-curve: leased, two checkpoints reported, no result yet.
        s = self.lease(b, eid)
        self.run_curve(b, s.id, good(0.82)[:2])
        statuses[s.id] = "running"
        for worker, current in self.leases.items():
            self.trials.Heartbeat(self.t.HeartbeatRequest(worker_id=worker, suggestion_id=current))

        x = self.expectations(eid, "accuracy", True)
        assert x["state"] == "active" and x["open"] == 1, x
        order = ["completed", "pruned", "failed", "running"]  # the chart's legend order
        counts = {k: sum(1 for v in statuses.values() if v == k) for k in order}
        x["curves"] = len(statuses)
        x["curve_statuses"] = ",".join("%s:%d" % (k, counts[k]) for k in order if counts[k])
        x["curve_status_by_suggestion"] = {str(k): v for k, v in statuses.items()}
        x["stop_reasons"] = {str(k): v for k, v in stop_reasons.items()}
        x["pruned"] = counts["pruned"]
        # The observations table's trial number (1-based, creation order) of each pruned one.
        x["pruned_trials"] = {str(i + 1): stop_reasons[r["suggestion"]]
                              for i, r in enumerate(self.results[eid])
                              if r["suggestion"] in stop_reasons}
        x["running_suggestion"] = str(s.id)
        return x

    # ---- the two-metric experiment with a constraint ----
    def seed_pareto(self):
        e, ss = self.e, self.ss
        exp = e.Experiment(name="ranker-pareto", project="search", observation_budget=30,
                           parallel_bandwidth=1)
        exp.search_space.parameters.add(name="depth", type=ss.PARAMETER_TYPE_INT,
                                        bounds=ss.Bounds(min=2, max=12))
        exp.search_space.parameters.add(name="shrinkage", type=ss.PARAMETER_TYPE_DOUBLE,
                                        bounds=ss.Bounds(min=0.01, max=0.5))
        exp.metrics.add(name="auc", objective=e.OBJECTIVE_MAXIMIZE)
        exp.metrics.add(name="latency", objective=e.OBJECTIVE_MINIMIZE)
        threshold = 500.0
        exp.metrics.add(name="memory_mb", objective=e.OBJECTIVE_MINIMIZE,
                        strategy=e.METRIC_STRATEGY_CONSTRAINT, threshold=threshold)
        exp.optimizer.algorithm = "quasi_random"
        exp.optimizer.seed = 5
        eid = self.create(exp)
        # Two queued assignments (another suggestion source), then the optimizer's.
        for depth, shrinkage in ((4, 0.1), (10, 0.3)):
            self.queue(eid, depth=depth, shrinkage=shrinkage)
        for i in range(20):
            sug = self.suggest(eid)
            if i == 9:
                self.observe(eid, sug, failed=True, reason="evaluation timed out")
                continue
            depth = self.value(sug.assignment, "depth")
            self.observe(eid, sug, {
                "auc": 0.62 + 0.025 * depth + self.rng.uniform(0, 0.05),
                "latency": 5.0 + 4.0 * depth + self.rng.uniform(0, 20.0),
                "memory_mb": 150.0 + 60.0 * depth + self.rng.uniform(-80.0, 80.0)})
        x = self.expectations(eid, "auc", True)
        assert x["state"] == "active", x
        ok = [r["values"] for r in self.results[eid] if not r["failed"]]
        x["pareto_points"] = len(ok)
        x["pareto_front"] = len(pareto_front([(v["auc"], v["latency"]) for v in ok], True, False))
        x["constraint_satisfied"] = sum(1 for v in ok if v["memory_mb"] <= threshold)
        x["constraint_violated"] = sum(1 for v in ok if v["memory_mb"] > threshold)
        x["constraint_observed"] = len(ok)
        assert 0 < x["constraint_violated"] < len(ok), x
        assert x["pareto_front"] >= 2, x
        # The result the browser test reports while the page is open: it dominates every point
        # and satisfies the constraint, so the front collapses to it.
        x["live_values"] = {"auc": 0.999, "latency": 1.0, "memory_mb": 100.0}
        assert all(0.999 > v["auc"] and 1.0 < v["latency"] for v in ok)
        return x


class DashboardBrowserTest(unittest.TestCase):

    def test_dashboard_in_chromium(self):
        self.assertTrue(os.access("/usr/bin/chromium", os.X_OK),
                        "/usr/bin/chromium is missing: run deploy/install-deps.sh")
        self.assertTrue(os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")),
                        "playwright-core is missing: build the target "
                        "hpo_dashboard_browser_test_deps (npm ci in tests/dashboard)")
        self.assertTrue(os.path.exists(os.path.join(ARGS.dashboard_dir, "index.html")),
                        "no front end in %s: build the target hpo_dashboard_web" % ARGS.dashboard_dir)
        tmp = tempfile.mkdtemp(prefix="hpo-dashboard-browser-")
        server = None
        ok = False
        try:
            generate_stubs(ARGS.source_dir, os.path.join(tmp, "stubs"))
            server = Server(ARGS.server_bin, os.path.join(tmp, "hpo.db"), tmp, [
                "--http_listen", "127.0.0.1:0", "--http_port_file", os.path.join(tmp, "http_port"),
                "--dashboard_dir", ARGS.dashboard_dir,
                # Leases and worker liveness (the same window) outlast the test.
                "--lease_timeout_seconds", "900"])
            server.start()
            # hpo-server writes the dashboard's port file before the gRPC one.
            with open(os.path.join(tmp, "http_port")) as f:
                http_port = int(f.read().strip())
            started = time.monotonic()
            seeder = Seeder(server.address)
            finished = seeder.seed_finished()
            running = seeder.seed_running()
            pareto = seeder.seed_pareto()
            for x in (finished, running, pareto):
                x["workers"] = seeder.workers_view(int(x["id"]))
            print("seeded in %.1f s" % (time.monotonic() - started), flush=True)

            expect = {
                "url": "http://127.0.0.1:%d/" % http_port,
                "grpc_address": server.address,
                "cli_bin": ARGS.cli_bin,
                "screenshots": os.path.abspath(ARGS.screenshots) if ARGS.screenshots else "",
                "download_dir": os.path.join(tmp, "downloads"),
                # Newest first, as the list shows them.
                "list": [pareto, running, finished],
                "finished": finished,
                "running": running,
                "pareto": pareto,
            }
            expect_path = os.path.join(tmp, "expect.json")
            with open(expect_path, "w") as f:
                json.dump(expect, f, indent=1)
            node = ARGS.node_bin or shutil.which("node")
            self.assertTrue(node, "node not found")
            started = time.monotonic()
            # Its own session, so that a hung run is killed together with its Chromium.
            proc = subprocess.Popen(
                [node, "--test-reporter=spec", os.path.join(HERE, "browser_test.mjs"), expect_path],
                cwd=HERE, start_new_session=True)
            try:
                returncode = proc.wait(timeout=150)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                self.fail("browser_test.mjs did not finish in 150 s")
            print("browser test ran in %.1f s" % (time.monotonic() - started), flush=True)
            self.assertEqual(returncode, 0, "browser_test.mjs failed (see its output above)")
            self.assertTrue(server.running(), "hpo-server died during the browser test")
            ok = True
        finally:
            if server is not None and server.running():
                if not ok:
                    print("--- server log ---\n" + server.read_log())
                server.kill()
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--server_bin", required=True)
    parser.add_argument("--cli_bin", required=True)
    parser.add_argument("--dashboard_dir", required=True)
    parser.add_argument("--source_dir", required=True)
    parser.add_argument("--node_bin", default="")
    parser.add_argument("--screenshots", default="",
                        help="save screenshots of the list and of each experiment here")
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
