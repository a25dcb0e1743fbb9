#!/usr/bin/python3
"""The Python SDK (client/python, package hpo) against real hpo-server processes on loopback.

    /usr/bin/python3 tests/client/python/sdk_test.py --server-bin build/bin/hpo-server \
        --cli-bin build/bin/hpo-cli --python-dir build/python --source-dir .

A plain server: experiments, suggestions, observations, typed errors, spec files read exactly as
hpo-cli reads them, retries while the server is not up yet. A server with --auth and TLS
(certificates made here with openssl): the client configured by hpo-cli's environment variables,
refusals as typed errors, tokens and backups, and the trial API of Python workers (learning
curves, prune decisions, heartbeats, failures, lost leases). A server with mutual TLS.
"""

import argparse
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import unittest
from unittest import mock

ARGS = None
hpo = None


def setUpModule():
    global hpo
    sys.path.insert(0, ARGS.python_dir)
    sys.path.insert(0, os.path.join(ARGS.source_dir, "tests", "integration"))
    import hpo as sdk
    hpo = sdk


def harness():
    import harness as h
    return h


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quadratic_spec(name, project="", budget=6):
    return {
        "name": name, "project": project,
        "search_space": {"parameters": [
            {"name": "x", "type": "double", "bounds": {"min": -2, "max": 2}},
            {"name": "n", "type": "int", "bounds": {"min": 1, "max": 8}},
            {"name": "optimizer", "type": "categorical", "categorical_values": ["sgd", "lamb"]}]},
        "metrics": [{"name": "loss", "objective": "minimize"}],
        "observation_budget": budget,
        "optimizer": {"algorithm": "random", "seed": 3},
    }


def lr_spec(name, project, budget):
    return {
        "name": name, "project": project,
        "search_space": {"parameters": [
            {"name": "lr", "type": "double", "bounds": {"min": 0.001, "max": 0.5},
             "transformation": "log"}]},
        "metrics": [{"name": "loss", "objective": "minimize"}],
        "observation_budget": budget, "parallel_bandwidth": 1,
        "pruner": {"threshold": {"upper": 0.6, "warmup_steps": 4}},
    }


def curve_objective(trial):
    """loss falls with lr: lr 0.001 stays above 0.6 (pruned after step 4), lr 0.5 does not."""
    loss = 1.0
    for step in range(1, 21):
        loss = loss * (1.0 - trial.params["lr"]) + 0.01
        if trial.report(step, {"loss": loss}).stop:
            break
    return {"loss": loss}


class PlainServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="hpo-sdk-")
        cls.server = harness().Server(ARGS.server_bin, os.path.join(cls.tmp.name, "hpo.db"),
                                      cls.tmp.name, ["--http_listen="])
        cls.server.start()
        cls.client = hpo.Client(cls.server.address, token="", tls_ca="", timeout=30)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.terminate()
        cls.tmp.cleanup()

    def test_experiment_suggestions_observations_best(self):
        experiment = self.client.create_experiment(quadratic_spec("loop"))
        self.assertGreater(experiment.id, 0)
        self.assertEqual(experiment.project, "default")
        for _ in range(experiment.observation_budget):
            suggestion = self.client.create_suggestion(experiment.id)
            params = hpo.to_dict(suggestion.assignment)
            self.assertIsInstance(params["x"], float)
            self.assertIsInstance(params["n"], int)
            self.assertIn(params["optimizer"], ("sgd", "lamb"))
            loss = (params["x"] - 0.5) ** 2 + params["n"] / 100
            self.client.create_observation(experiment.id, suggestion.id,
                                           {"loss": (loss, 0.01)})
        observations = self.client.list_observations(experiment.id)
        self.assertEqual(len(observations), experiment.observation_budget)
        self.assertAlmostEqual(observations[0].values[0].stddev, 0.01)
        best = self.client.best_assignments(experiment.id)
        self.assertEqual(len(best), 1)
        self.assertEqual(best[0].values[0].value,
                         min(o.values[0].value for o in observations))
        done = self.client.get_experiment(experiment.id)
        self.assertEqual(done.progress.observation_count, experiment.observation_budget)
        self.assertEqual(done.state, hpo.v1.experiment_pb2.EXPERIMENT_STATE_COMPLETED)
        self.assertIn(experiment.id, [e.id for e in self.client.list_experiments(
            states=["active", "completed"])])

    def test_queued_assignment_is_typed_by_the_search_space(self):
        experiment = self.client.create_experiment(quadratic_spec("queued"))
        self.client.queue_suggestion(experiment.id, {"x": 1, "n": 3.0, "optimizer": "sgd"})
        suggestion = self.client.create_suggestion(experiment.id)
        self.assertEqual(hpo.to_dict(suggestion.assignment),
                         {"x": 1.0, "n": 3, "optimizer": "sgd"})
        values = suggestion.assignment.values
        self.assertEqual(values["x"].WhichOneof("kind"), "number_value")
        self.assertEqual(values["n"].WhichOneof("kind"), "int_value")
        failed = self.client.create_observation(experiment.id, suggestion.id, failed=True,
                                                failure_reason="out of memory")
        self.assertTrue(failed.failed)
        self.assertEqual(failed.failure_reason, "out of memory")

    def test_errors_are_typed_by_status_code(self):
        with self.assertRaises(hpo.NotFoundError) as raised:
            self.client.get_experiment(987654)
        self.assertIsInstance(raised.exception, hpo.HpoError)
        self.assertEqual(raised.exception.code.name, "NOT_FOUND")
        self.client.create_experiment(quadratic_spec("twice"))
        with self.assertRaises(hpo.AlreadyExistsError):
            self.client.create_experiment(quadratic_spec("twice"))
        bad = quadratic_spec("bad-bounds")
        bad["search_space"]["parameters"][0]["bounds"] = {"min": 3, "max": -3}
        with self.assertRaises(hpo.InvalidArgumentError) as raised:
            self.client.create_experiment(bad)
        self.assertIn("bounds", raised.exception.details)
        paused = self.client.create_experiment(quadratic_spec("paused"))
        self.client.pause(paused.id)
        with self.assertRaises(hpo.FailedPreconditionError):
            self.client.create_suggestion(paused.id)
        self.assertEqual(self.client.resume(paused.id).state,
                         hpo.v1.experiment_pb2.EXPERIMENT_STATE_ACTIVE)

    def test_spec_errors_are_raised_before_any_call(self):
        unknown = quadratic_spec("unknown")
        unknown["search_space"]["parameters"][0]["bounds"]["maximum"] = 3
        with self.assertRaises(hpo.SpecError) as raised:
            self.client.create_experiment(unknown)
        self.assertIn("search_space.parameters[0].bounds.maximum", str(raised.exception))
        wrong_enum = quadratic_spec("enum")
        wrong_enum["metrics"][0]["objective"] = "smallest"
        with self.assertRaises(hpo.SpecError) as raised:
            hpo.experiment_from_dict(wrong_enum)
        self.assertIn("maximize, minimize", str(raised.exception))
        self.assertFalse([e for e in self.client.list_experiments()
                          if e.name in ("unknown", "enum")])

    def test_spec_files_are_read_as_hpo_cli_reads_them(self):
        examples = os.path.join(ARGS.source_dir, "deploy", "examples")
        files = sorted(f for f in os.listdir(examples) if f.endswith((".yaml", ".json")))
        self.assertGreaterEqual(len(files), 5)
        ignored = ("id", "name", "create_time", "update_time", "progress")
        for name in files:
            path = os.path.join(examples, name)
            out = subprocess.run([ARGS.cli_bin, "--server", self.server.address, "--json",
                                  "create", "-f", path], capture_output=True, text=True,
                                 check=True, env=dict(os.environ, HPO_TOKEN=""))
            by_cli = self.client.get_experiment(int(json.loads(out.stdout)["experiment"]["id"]))
            spec = hpo.load_experiment(path)
            spec.name += "-sdk"
            by_sdk = self.client.create_experiment(spec)
            for experiment in (by_cli, by_sdk):
                for field in ignored:
                    experiment.ClearField(field)
                if not spec.optimizer.seed:  # the server draws one
                    experiment.optimizer.ClearField("seed")
            self.assertEqual(by_sdk, by_cli, name)

    def test_calls_are_retried_while_the_server_is_unavailable(self):
        port = free_port()
        directory = tempfile.mkdtemp(dir=self.tmp.name)
        server = harness().Server(ARGS.server_bin, os.path.join(directory, "hpo.db"), directory,
                                  ["--http_listen="])
        server.port = port
        address = "127.0.0.1:%d" % port
        with hpo.Client(address, retries=0) as impatient:
            with self.assertRaises(hpo.UnavailableError):
                impatient.list_experiments()

        retried = threading.Event()

        class OnRetry(logging.Handler):
            def emit(self, record):
                if "UNAVAILABLE" in record.getMessage():
                    retried.set()

        logger = logging.getLogger("hpo")
        handler = OnRetry()
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        result = {}

        def call():
            with hpo.Client(address, retries=8) as patient:
                try:
                    result["experiments"] = patient.list_experiments()
                except hpo.HpoError as error:
                    result["error"] = error

        thread = threading.Thread(target=call)
        thread.start()
        try:
            self.assertTrue(retried.wait(30), "the first attempt was not retried")
            server.start()  # on the port the client keeps trying
            thread.join(60)
        finally:
            logger.removeHandler(handler)
            logger.setLevel(logging.WARNING)
            if server.running():
                server.terminate()
        self.assertFalse(thread.is_alive())
        self.assertEqual(result, {"experiments": []})


class SecureServerTest(unittest.TestCase):
    """--auth and TLS, a short lease (heartbeats every 0.5 s) and a backup directory."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="hpo-sdk-tls-")
        d = cls.tmp.name
        cls.certs = harness().make_certs(d)
        cls.backups = os.path.join(d, "backups")
        os.mkdir(cls.backups, 0o700)
        token_file = os.path.join(d, "admin.token")
        cls.server = harness().Server(ARGS.server_bin, os.path.join(d, "hpo.db"), d, [
            "--auth", "--admin_token_file", token_file, "--tls_cert", cls.certs["server.pem"],
            "--tls_key", cls.certs["server.key"], "--http_listen=", "--lease_timeout_seconds", "2",
            "--backup_dir", cls.backups])
        cls.server.start()
        with open(token_file) as f:
            cls.admin_token = f.read().strip()
        cls.admin = cls.connect(cls.admin_token)
        _, cls.alice = cls.admin.create_token("alice", "user", "alpha")
        _, cls.bob = cls.admin.create_token("bob", "user", "beta")
        _, cls.nodes = cls.admin.create_token("alpha-nodes", "worker", "alpha")

    @classmethod
    def tearDownClass(cls):
        cls.admin.close()
        cls.server.terminate()
        cls.tmp.cleanup()

    @classmethod
    def connect(cls, token, **kwargs):
        return hpo.Client(cls.server.address, token=token, tls_ca=cls.certs["ca.pem"], **kwargs)

    def test_client_takes_hpo_cli_environment_variables(self):
        env = {"HPO_SERVER": self.server.address, "HPO_TOKEN": self.alice,
               "HPO_TLS_CA": self.certs["ca.pem"]}
        with mock.patch.dict(os.environ, env):
            with hpo.Client() as client:
                self.assertTrue(client.tls)
                experiment = client.create_experiment(quadratic_spec("from-env", "alpha"))
                self.assertEqual(experiment.project, "alpha")
                self.assertIn(experiment.id, [e.id for e in client.list_experiments()])

    def test_refusals_are_typed_errors(self):
        mine = self.connect(self.alice).create_experiment(quadratic_spec("mine", "alpha"))
        with self.connect("") as anonymous:
            with self.assertRaises(hpo.UnauthenticatedError):
                anonymous.list_experiments()
        with hpo.Client(self.server.address, token=self.alice, tls=False, tls_ca="",
                        retries=0) as plaintext:
            with self.assertRaises(hpo.UnavailableError):
                plaintext.list_experiments()
        with self.connect(self.bob) as bob:
            with self.assertRaises(hpo.PermissionDeniedError):
                bob.get_experiment(mine.id)
            with self.assertRaises(hpo.PermissionDeniedError):
                bob.create_experiment(quadratic_spec("not-mine", "alpha"))
        with self.connect(self.nodes) as worker_token:
            with self.assertRaises(hpo.PermissionDeniedError):
                worker_token.create_suggestion(mine.id)
        token, secret = self.admin.create_token("short-lived", "user", "alpha")
        with self.connect(secret) as short_lived:
            short_lived.get_experiment(mine.id)
            self.admin.revoke_token(token.id)
            with self.assertRaises(hpo.UnauthenticatedError):
                short_lived.get_experiment(mine.id)
        self.assertIn("short-lived", [t.name for t in self.admin.list_tokens()])

    def test_backups_go_to_the_backup_directory_only(self):
        inside = os.path.join(self.backups, "copy.db")
        reply = self.admin.backup(inside)
        self.assertEqual(reply.path, inside)
        self.assertGreater(reply.bytes, 0)
        self.assertTrue(os.path.isfile(inside))
        with self.assertRaises(hpo.PermissionDeniedError):
            self.admin.backup(os.path.join(self.tmp.name, "elsewhere.db"))
        with self.assertRaises(hpo.PermissionDeniedError):
            self.connect(self.alice).backup(os.path.join(self.backups, "alice.db"))

    def test_python_worker_reports_curves_and_obeys_pruning(self):
        with self.connect(self.alice) as alice:
            experiment = alice.create_experiment(lr_spec("worker-lr", "alpha", 2))
            slow = alice.queue_suggestion(experiment.id, {"lr": 0.001})
            fast = alice.queue_suggestion(experiment.id, {"lr": 0.5})
            with self.connect(self.nodes) as nodes:
                stats = nodes.worker(experiment.id, name="sdk-test").run(curve_objective)
            self.assertEqual(stats, {"completed": 1, "pruned": 1, "failed": 0})
            states = {s.id: s for s in alice.list_suggestions(experiment.id)}
            pruned, completed = states[slow.id], states[fast.id]
            self.assertEqual(pruned.state, hpo.v1.experiment_pb2.SUGGESTION_STATE_PRUNED)
            self.assertEqual(completed.state, hpo.v1.experiment_pb2.SUGGESTION_STATE_COMPLETED)
            self.assertEqual([c.step for c in alice.list_checkpoints(experiment.id, slow.id)],
                             [1, 2, 3, 4])
            self.assertEqual([c.step for c in alice.list_checkpoints(experiment.id, fast.id)],
                             list(range(1, 21)))
            observations = {o.suggestion_id: o for o in alice.list_observations(experiment.id)}
            self.assertIn("threshold", observations[slow.id].metadata["stop_reason"])
            self.assertAlmostEqual(observations[fast.id].values[0].value,
                                   curve_objective_value(0.5, 20))
            self.assertEqual(alice.get_experiment(experiment.id).state,
                             hpo.v1.experiment_pb2.EXPERIMENT_STATE_COMPLETED)

    def test_heartbeats_keep_the_lease_and_carry_the_servers_stop(self):
        wait_for = harness().wait_for
        with self.connect(self.alice) as alice, self.connect(self.nodes) as nodes:
            experiment = alice.create_experiment(lr_spec("heartbeats", "alpha", 3))
            worker = nodes.worker(experiment.id, name="heartbeats")
            trial = worker.lease()
            self.assertIsNotNone(trial)
            self.assertAlmostEqual(worker.heartbeat_interval, 0.5)

            def leased():
                return next(s for s in alice.list_suggestions(experiment.id) if s.id == trial.id)

            first = leased().lease_expire_time.ToDatetime()
            # Only the background heartbeats renew the lease: nothing else is sent meanwhile.
            wait_for(lambda: (leased().lease_expire_time.ToDatetime() - first).total_seconds()
                     > 2.5, 20, "heartbeats to carry the lease past its first expiry")
            self.assertEqual(leased().worker_id, worker.worker_id)
            self.assertFalse(trial.should_stop)
            alice.pause(experiment.id)
            wait_for(lambda: trial.should_stop, 20, "a heartbeat to carry the pause")
            self.assertFalse(trial.pruned)
            self.assertTrue(trial.report(1, {"loss": 0.9}).stop)
            observation = trial.complete({"loss": 0.9})
            self.assertEqual(observation.suggestion_id, trial.id)
            with self.assertRaises(hpo.FailedPreconditionError):
                trial.complete({"loss": 0.8})

    def test_exception_in_a_trial_fails_it_with_the_message(self):
        with self.connect(self.alice) as alice, self.connect(self.nodes) as nodes:
            experiment = alice.create_experiment(lr_spec("raises", "alpha", 2))
            worker = nodes.worker(experiment.id)
            with self.assertRaises(ZeroDivisionError):
                with worker.lease() as trial:
                    trial.report(1, {"loss": 1.0})
                    _ = 1 / 0
            failed = alice.list_observations(experiment.id)
            self.assertEqual(len(failed), 1)
            self.assertTrue(failed[0].failed)
            self.assertIn("ZeroDivisionError", failed[0].failure_reason)

            def objective(trial):
                raise RuntimeError("no data on this node")

            self.assertEqual(worker.run(objective), {"completed": 0, "pruned": 0, "failed": 1})
            reasons = [o.failure_reason for o in alice.list_observations(experiment.id)]
            self.assertIn("RuntimeError: no data on this node", reasons)

    def test_a_lost_lease_stops_the_trial_and_drops_its_result(self):
        with self.connect(self.alice) as alice, self.connect(self.nodes) as nodes:
            experiment = alice.create_experiment(lr_spec("lost", "alpha", 2))
            trial = nodes.worker(experiment.id).lease()
            self.assertFalse(trial.report(1, {"loss": 1.0}).stop)
            alice.delete_suggestion(experiment.id, trial.id)
            decision = trial.report(2, {"loss": 0.9})
            self.assertTrue(decision.stop)
            self.assertTrue(trial.should_stop)
            self.assertIsNone(trial.complete())
            self.assertEqual(alice.list_observations(experiment.id), [])


def curve_objective_value(lr, steps):
    loss = 1.0
    for _ in range(steps):
        loss = loss * (1.0 - lr) + 0.01
    return loss


class MutualTlsTest(unittest.TestCase):
    def test_client_certificate_from_the_environment(self):
        with tempfile.TemporaryDirectory(prefix="hpo-sdk-mtls-") as d:
            certs = harness().make_certs(d)
            server = harness().Server(ARGS.server_bin, os.path.join(d, "hpo.db"), d, [
                "--tls_cert", certs["server.pem"], "--tls_key", certs["server.key"],
                "--tls_client_ca", certs["ca.pem"], "--http_listen="])
            server.start()
            try:
                with hpo.Client(server.address, tls_ca=certs["ca.pem"], token="",
                                tls_cert="", tls_key="", retries=0) as no_certificate:
                    with self.assertRaises(hpo.UnavailableError):
                        no_certificate.list_experiments()
                env = {"HPO_SERVER": server.address, "HPO_TLS_CA": certs["ca.pem"],
                       "HPO_TLS_CERT": certs["client.pem"], "HPO_TLS_KEY": certs["client.key"],
                       "HPO_TOKEN": ""}
                with mock.patch.dict(os.environ, env):
                    with hpo.Client() as client:
                        self.assertEqual(client.list_experiments(), [])
                    with self.assertRaises(hpo.InvalidArgumentError):
                        hpo.Client(tls_key="")
                    with self.assertRaises(hpo.InvalidArgumentError) as raised:
                        hpo.Client(tls_ca=os.path.join(d, "missing.pem"))
                    self.assertIn("missing.pem", raised.exception.details)
            finally:
                server.terminate()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for flag in ("--server-bin", "--cli-bin", "--python-dir", "--source-dir"):
        parser.add_argument(flag, required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
