#!/usr/bin/python3
"""Integration test of gang trials (TrainingSpec.ranks_per_trial = 2) with a real hpo-server and
real hpo-worker processes in command mode (torch-free: tests/integration/gang_rank.py stands in
for a distributed trainer): every trial runs on two workers with ranks 0 and 1 and one
rendezvous address, only rank 0 reports; a worker SIGKILLed mid-trial dissolves the gang and the
trial is retried by a new gang, not duplicated. About 20 s.

Usage: gang_test.py --server-bin PATH --worker-bin PATH --source-dir DIR
"""
import os
import sys
import unittest

from harness import ProcessTestCase, Worker, run_process_tests, wait_for

ARGS = None
RANK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gang_rank.py")


class GangTest(ProcessTestCase):
    prefix = "hpo-gang-it-"

    def setUp(self):
        super().setUp()
        self.workers = {}  # by name
        self.markers = os.path.join(self.dir, "markers")
        os.makedirs(self.markers)
        self.start_server(["--lease_timeout_seconds=2", "--max_lease_attempts=3"])

    def stub(self):
        import grpc
        from hpo.v1 import experiment_service_pb2_grpc
        return experiment_service_pb2_grpc.ExperimentServiceStub(
            grpc.insecure_channel(self.server.address))

    def create_experiment(self, budget):
        from hpo.v1 import experiment_pb2 as e, experiment_service_pb2 as s, search_space_pb2 as ss
        exp = e.Experiment(name="gang", observation_budget=budget, parallel_bandwidth=1)
        exp.search_space.parameters.add(name="x", type=ss.PARAMETER_TYPE_DOUBLE,
                                        bounds=ss.Bounds(min=0, max=1))
        exp.metrics.add(name="score", objective=e.OBJECTIVE_MAXIMIZE)
        exp.training.max_steps = 100
        exp.training.ranks_per_trial = 2
        exp.optimizer.algorithm = "random"
        return self.stub().CreateExperiment(s.CreateExperimentRequest(experiment=exp)).experiment

    def start_worker(self, name, steps, step_seconds, extra=()):
        w = Worker(ARGS.worker_bin, self.server, self.dir, name,
                   ["--command", "/usr/bin/python3 " + RANK, "--pass_env", "GANG_*"] + list(extra),
                   env={"GANG_MARKERS": self.markers, "GANG_NAME": name,
                        "GANG_STEPS": str(steps), "GANG_STEP_SECONDS": str(step_seconds)})
        self.workers[name] = w
        return w

    def starts(self):
        path = os.path.join(self.markers, "starts.log")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [line.split() for line in f if line.strip()]

    def observations(self, experiment_id):
        from hpo.v1 import experiment_service_pb2 as s
        return list(self.stub().ListObservations(
            s.ListObservationsRequest(experiment_id=experiment_id)).observations)

    def suggestions(self, experiment_id):
        from hpo.v1 import experiment_service_pb2 as s
        return list(self.stub().ListSuggestions(
            s.ListSuggestionsRequest(experiment_id=experiment_id)).suggestions)

    def test_two_workers_run_two_rank_trials(self):
        exp = self.create_experiment(budget=2)
        a = self.start_worker("a", 3, 0.1, ["--max_trials=2"])
        b = self.start_worker("b", 3, 0.1, ["--max_trials=2"])
        self.assertEqual(a.wait(60), 0)
        self.assertEqual(b.wait(60), 0)
        observations = self.observations(exp.id)
        self.assertEqual(len(observations), 2)
        for o in observations:
            self.assertFalse(o.failed, o.failure_reason)
            self.assertEqual([v.name for v in o.values], ["score"])
        starts = self.starts()
        self.assertEqual(len(starts), 4, starts)
        by_suggestion = {}
        for _, sid, rank, world, master, name in starts:
            by_suggestion.setdefault(sid, []).append((int(rank), int(world), master, name))
        self.assertEqual(sorted(by_suggestion), sorted(str(o.suggestion_id) for o in observations))
        for sid, ranks in by_suggestion.items():
            self.assertEqual(sorted(r[0] for r in ranks), [0, 1], ranks)
            self.assertEqual({r[1] for r in ranks}, {2})
            self.assertEqual(len({r[2] for r in ranks}), 1, ranks)  # one rendezvous address
            self.assertEqual(sorted(r[3] for r in ranks), ["a", "b"])
            self.assertTrue(ranks[0][2].endswith(":%d" % (29500 + int(sid) % 1000)), ranks)

    def test_gang_workers_that_exit_when_idle_finish_the_experiment(self):
        # Three workers, two ranks per trial, one trial at a time: a rank that finds no work
        # while its trial's rank 0 still reports must wait (work_pending), not exit and leave a
        # later gang one rank short.
        exp = self.create_experiment(budget=4)
        names = ["a", "b", "c"]
        for name in names:
            self.start_worker(name, 3, 0.05, ["--exit_when_idle", "--rendezvous_host=10.9.8.7"])
        for name in names:
            self.assertEqual(self.workers[name].wait(90), 0, name)
        observations = self.observations(exp.id)
        self.assertEqual(len(observations), 4)
        self.assertTrue(all(not o.failed for o in observations), observations)
        starts = self.starts()
        self.assertEqual(len(starts), 8, starts)  # two ranks for each of the four trials
        self.assertEqual({s[4].split(":")[0] for s in starts}, {"10.9.8.7"})  # advertised host

    def test_killed_rank_dissolves_gang_and_trial_is_retried_once(self):
        exp = self.create_experiment(budget=1)
        # After losing the trial the survivor takes part in the retry, then exits when idle.
        self.start_worker("a", 30, 0.2, ["--max_trials=2", "--exit_when_idle"])
        self.start_worker("b", 30, 0.2, ["--max_trials=2", "--exit_when_idle"])
        wait_for(lambda: len(self.starts()) >= 2, 30, "both ranks started")
        first = self.starts()[:2]
        victim = next(s for s in first if s[2] == "1")[5]
        survivor = "a" if victim == "b" else "b"
        self.workers[victim].stop()  # SIGKILL: its lease expires after 2 s
        self.start_worker("c", 3, 0.1, ["--max_trials=1"])
        self.assertEqual(self.workers["c"].wait(60), 0)
        self.assertEqual(self.workers[survivor].wait(60), 0)
        observations = self.observations(exp.id)
        self.assertEqual(len(observations), 1)
        self.assertFalse(observations[0].failed, observations[0].failure_reason)
        suggestions = self.suggestions(exp.id)
        self.assertEqual(len(suggestions), 1)  # retried, not duplicated
        self.assertEqual(suggestions[0].attempts, 2)
        retry = [s for s in self.starts()[2:] if s[1] == first[0][1]]
        self.assertEqual(sorted(s[5] for s in retry), sorted([survivor, "c"]), self.starts())
        self.assertIn("gang", self.server.read_log())


if __name__ == "__main__":
    run_process_tests(sys.modules[__name__])
