"""Runs client/python/examples/example_loop.py against an in-process fake ExperimentService.

    /usr/bin/python3 tests/client/python/example_loop_test.py build/python

Takes the hpo package (with its generated stubs) from the build tree given as the argument,
serves a fake on 127.0.0.1:0 and checks the loop creates one experiment, observes every
suggestion and ends with exit code 0. Needs python3-grpcio and python3-protobuf.
"""

import contextlib
import io
import os
import sys
import threading
import unittest
from concurrent import futures

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path[:0] = [os.path.abspath(sys.argv.pop(1)), os.path.join(ROOT, "client", "python", "examples")]

import grpc  # noqa: E402
from hpo.v1 import experiment_pb2, experiment_service_pb2  # noqa: E402
from hpo.v1 import experiment_service_pb2_grpc  # noqa: E402

import example_loop  # noqa: E402


class FakeService(experiment_service_pb2_grpc.ExperimentServiceServicer):
    """Suggests points on a fixed pattern and answers best = lowest branin."""

    def __init__(self):
        self.lock = threading.Lock()
        self.experiments = {}
        self.suggestions = {}
        self.observations = []

    def CreateExperiment(self, request, context):
        with self.lock:
            experiment = experiment_pb2.Experiment()
            experiment.CopyFrom(request.experiment)
            experiment.id = len(self.experiments) + 1
            experiment.state = experiment_pb2.EXPERIMENT_STATE_ACTIVE
            self.experiments[experiment.id] = experiment
            return experiment_service_pb2.CreateExperimentResponse(experiment=experiment)

    def GetExperiment(self, request, context):
        with self.lock:
            if request.experiment_id not in self.experiments:
                context.abort(grpc.StatusCode.NOT_FOUND, "experiment not found")
            return experiment_service_pb2.GetExperimentResponse(
                experiment=self.experiments[request.experiment_id])

    def CreateSuggestion(self, request, context):
        with self.lock:
            n = len(self.suggestions)
            suggestion = experiment_pb2.Suggestion(id=n + 1, experiment_id=request.experiment_id,
                                                   state=experiment_pb2.SUGGESTION_STATE_OPEN,
                                                   source="fake")
            values = suggestion.assignment.values
            values["x1"].number_value = -5.0 + (n * 3.7) % 15.0
            values["x2"].number_value = (n * 5.3) % 15.0
            values["penalty"].string_value = ["none", "l2"][n % 2]
            self.suggestions[suggestion.id] = suggestion
            return experiment_service_pb2.CreateSuggestionResponse(suggestion=suggestion)

    def CreateObservation(self, request, context):
        with self.lock:
            if request.suggestion_id not in self.suggestions:
                context.abort(grpc.StatusCode.NOT_FOUND, "suggestion not found")
            observation = experiment_pb2.Observation(
                id=len(self.observations) + 1, experiment_id=request.experiment_id,
                suggestion_id=request.suggestion_id, values=request.values)
            observation.assignment.CopyFrom(self.suggestions[request.suggestion_id].assignment)
            self.observations.append(observation)
            return experiment_service_pb2.CreateObservationResponse(observation=observation)

    def ListObservations(self, request, context):
        """Two observations a page; the token is the offset of the next one."""
        with self.lock:
            mine = [o for o in self.observations if o.experiment_id == request.experiment_id]
            start = int(request.page_token or "0")
            response = experiment_service_pb2.ListObservationsResponse(
                observations=mine[start:start + 2])
            if start + 2 < len(mine):
                response.next_page_token = str(start + 2)
            return response

    def GetBestAssignments(self, request, context):
        with self.lock:
            mine = [o for o in self.observations if o.experiment_id == request.experiment_id]
            best = min(mine, key=lambda o: o.values[0].value)
            return experiment_service_pb2.GetBestAssignmentsResponse(observations=[best])


class ExampleLoopTest(unittest.TestCase):
    def setUp(self):
        self.service = FakeService()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        experiment_service_pb2_grpc.add_ExperimentServiceServicer_to_server(self.service,
                                                                            self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def tearDown(self):
        self.server.stop(None)

    def test_loop_observes_the_budget_and_prints_the_best(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = example_loop.main(["--server", f"127.0.0.1:{self.port}", "--budget", "6"])
        self.assertEqual(code, 0, out.getvalue())
        self.assertEqual(len(self.service.observations), 6)
        self.assertEqual(len(self.service.experiments), 1)
        experiment = self.service.experiments[1]
        self.assertEqual(experiment.observation_budget, 6)
        self.assertEqual(experiment.metrics[0].objective, experiment_pb2.OBJECTIVE_MINIMIZE)
        best = min(o.values[0].value for o in self.service.observations)
        self.assertIn(f"branin={best:.6g}", out.getvalue().splitlines()[-2])
        self.assertTrue(out.getvalue().splitlines()[-2].startswith("best: "))

    def test_client_lists_every_page(self):
        import hpo
        with contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(
                example_loop.main(["--server", f"127.0.0.1:{self.port}", "--budget", "5"]), 0)
        with hpo.Client(f"127.0.0.1:{self.port}") as client:
            listed = client.list_observations(1)
        self.assertEqual([o.id for o in listed], [1, 2, 3, 4, 5])

    def test_rpc_error_exits_one(self):
        self.server.stop(None)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = example_loop.main(["--server", f"127.0.0.1:{self.port}", "--wait", "0.2"])
        self.assertEqual(code, 1)
        self.assertIn("error: UNAVAILABLE", err.getvalue())

    def test_branin_minimum(self):
        import math
        self.assertAlmostEqual(example_loop.branin(math.pi, 2.275), 0.397887, places=5)


if __name__ == "__main__":
    unittest.main()
