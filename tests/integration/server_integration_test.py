#!/usr/bin/python3
"""End-to-end test of the real hpo-server binary, driven by hpo-cli and the Python client.

Starts hpo-server on a temporary SQLite file and a free loopback port, creates experiments with
hpo-cli from deploy/examples, runs suggest/observe loops through the CLI and the Python client
example, checks error reporting, kills the server (SIGKILL) and restarts it on the same file, and
finds every experiment and observation again.

Usage: server_integration_test.py --server-bin PATH --cli-bin PATH --source-dir DIR
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import unittest

from harness import Server, generate_stubs

ARGS = None


def cli(server, *args, check=True, json_output=True):
    cmd = [ARGS.cli_bin, "--server", server.address] + (["--json"] if json_output else []) + list(args)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(cmd), result.returncode, result.stderr))
    if check and json_output:
        return json.loads(result.stdout) if result.stdout.strip() else {}
    return result


def example(name):
    return os.path.join(ARGS.source_dir, "deploy/examples", name)


class ServerIntegrationTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="hpo-it-")
        stubs = os.path.join(cls.tmp.name, "stubs")
        os.makedirs(stubs)
        generate_stubs(ARGS.source_dir, stubs)
        cls.server = Server(ARGS.server_bin, os.path.join(cls.tmp.name, "hpo.db"), cls.tmp.name)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        if cls.server.proc and cls.server.proc.poll() is None:
            cls.server.kill()
        cls.tmp.cleanup()

    def stub(self):
        import grpc
        from hpo.v1 import experiment_service_pb2_grpc
        channel = grpc.insecure_channel(self.server.address)
        return experiment_service_pb2_grpc.ExperimentServiceStub(channel)

    def create(self, spec_file):
        out = cli(self.server, "create", "-f", spec_file)
        return int(out["experiment"]["id"])

    def run_cli_loop(self, experiment_id, count, metric_values):
        for i in range(count):
            sug = cli(self.server, "suggest", str(experiment_id))["suggestion"]
            values = ["%s=%s" % (k, v(i, sug["assignment"])) for k, v in metric_values.items()]
            cli(self.server, "observe", str(experiment_id), "--suggestion", sug["id"], *values)

    def test_01_cli_create_suggest_observe_best(self):
        exp_id = self.create(example("dlrm.yaml"))
        got = cli(self.server, "get", str(exp_id))["experiment"]
        self.assertEqual(got["state"], "EXPERIMENT_STATE_ACTIVE")
        listed = cli(self.server, "list")["experiments"]
        self.assertIn(exp_id, [int(e["id"]) for e in listed])
        spec = self.stub().GetExperiment(self._req("GetExperimentRequest", experiment_id=exp_id)).experiment
        # Report every metric: AUC rises with i, the others are positive numbers.
        values = {m.name: (lambda i, a, name=m.name: 0.79 + 0.001 * i if name == "auc" else 100 + i)
                  for m in spec.metrics}
        self.run_cli_loop(exp_id, 3, values)
        obs = cli(self.server, "observations", str(exp_id))["observations"]
        self.assertEqual(len(obs), 3)
        csv_out = cli(self.server, "observations", str(exp_id), "--format", "csv",
                      json_output=False).stdout.strip().splitlines()
        self.assertEqual(len(csv_out), 4, csv_out)  # header + 3 rows
        best = cli(self.server, "best", str(exp_id))["observations"]
        self.assertGreaterEqual(len(best), 1)
        table = cli(self.server, "list", json_output=False).stdout
        self.assertIn(spec.name, table)

    def _req(self, name, **kwargs):
        from hpo.v1 import experiment_service_pb2
        return getattr(experiment_service_pb2, name)(**kwargs)

    def test_02_invalid_spec_is_rejected_with_field_and_nothing_stored(self):
        before = len(cli(self.server, "list", "--all")["experiments"])
        bad = os.path.join(self.tmp.name, "bad.yaml")
        with open(bad, "w") as f:
            f.write("name: bad\nobservation_budget: 5\nsearch_space:\n  parameters:\n"
                    "    - {name: lr, type: double, bounds: {min: 1, max: 0.1}}\n"
                    "metrics:\n  - {name: auc}\n")
        result = cli(self.server, "create", "-f", bad, check=False)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("INVALID_ARGUMENT", result.stderr)
        self.assertIn("lr", result.stderr)
        self.assertIn("bounds", result.stderr)
        self.assertEqual(before, len(cli(self.server, "list", "--all")["experiments"]))

    def test_03_bad_observation_and_state_rules(self):
        exp_id = self.create(example("branin.json"))
        metric = self.stub().GetExperiment(
            self._req("GetExperimentRequest", experiment_id=exp_id)).experiment.metrics[0].name
        sug = cli(self.server, "suggest", str(exp_id))["suggestion"]
        # A NaN value is refused by the server itself (the CLI refuses it before sending).
        import grpc
        from hpo.v1 import experiment_pb2
        request = self._req("CreateObservationRequest", experiment_id=exp_id,
                            suggestion_id=int(sug["id"]),
                            values=[experiment_pb2.MetricValue(name=metric, value=float("nan"))])
        with self.assertRaises(grpc.RpcError) as raised:
            self.stub().CreateObservation(request)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn(metric, raised.exception.details())
        nan = cli(self.server, "observe", str(exp_id), "--suggestion", sug["id"],
                  "%s=nan" % metric, check=False)
        self.assertNotEqual(nan.returncode, 0)
        self.assertIn("error:", nan.stderr)
        unknown = cli(self.server, "observe", str(exp_id), "--suggestion", "987654",
                      "%s=1" % metric, check=False)
        self.assertIn("NOT_FOUND", unknown.stderr)
        cli(self.server, "observe", str(exp_id), "--suggestion", sug["id"], "%s=1.5" % metric)
        cli(self.server, "pause", str(exp_id))
        paused = cli(self.server, "suggest", str(exp_id), check=False)
        self.assertIn("FAILED_PRECONDITION", paused.stderr)
        cli(self.server, "resume", str(exp_id))
        cli(self.server, "suggest", str(exp_id))
        cli(self.server, "archive", str(exp_id))
        archived = cli(self.server, "suggest", str(exp_id), check=False)
        self.assertIn("FAILED_PRECONDITION", archived.stderr)

    def test_04_python_client_example(self):
        # The hpo package of the build tree (build/python; ctest sets HPO_PYTHON_DIR).
        env = dict(os.environ, PYTHONPATH=os.environ["HPO_PYTHON_DIR"])
        script = os.path.join(ARGS.source_dir, "client/python/examples/example_loop.py")
        result = subprocess.run([sys.executable, script, "--server", self.server.address,
                                 "--budget", "8"], capture_output=True, text=True, env=env,
                                timeout=120)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        from hpo.v1 import experiment_pb2
        experiments = self.stub().ListExperiments(self._req("ListExperimentsRequest")).experiments
        done = [e for e in experiments if e.progress.observation_count == 8]
        self.assertTrue(done, [(e.name, e.progress) for e in experiments])
        self.assertEqual(done[0].state, experiment_pb2.EXPERIMENT_STATE_COMPLETED)

    def test_05_kill_and_restart_loses_nothing(self):
        stub = self.stub()
        before = {}
        for e in stub.ListExperiments(self._req("ListExperimentsRequest", states=[1, 2, 3, 4])).experiments:
            obs = stub.ListObservations(self._req("ListObservationsRequest", experiment_id=e.id))
            before[e.id] = (e.name, e.state, list(obs.observations))
        self.assertGreaterEqual(len(before), 3)
        self.server.kill()
        self.server.start()
        stub = self.stub()
        after = {}
        for e in stub.ListExperiments(self._req("ListExperimentsRequest", states=[1, 2, 3, 4])).experiments:
            obs = stub.ListObservations(self._req("ListObservationsRequest", experiment_id=e.id))
            after[e.id] = (e.name, e.state, list(obs.observations))
        self.assertEqual(before, after)
        # The restarted server keeps issuing suggestions for an active experiment.
        exp_id = self.create(example("mixed.yaml"))
        sug = cli(self.server, "suggest", str(exp_id))["suggestion"]
        self.assertTrue(sug["assignment"]["values"])

    def test_06_sigterm_shuts_down_cleanly(self):
        self.assertEqual(self.server.terminate(), 0, self.server.read_log())
        self.assertIn("stopped", self.server.read_log())
        self.server.start()  # leave it running for tearDownClass


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--server-bin", required=True)
    parser.add_argument("--cli-bin", required=True)
    parser.add_argument("--source-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
