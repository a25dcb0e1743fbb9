#!/usr/bin/python3
"""Integration tests of hpo-worker with a real hpo-server: leases shared within the parallel
bandwidth, pruning that stops a trial within one checkpoint, failed programs, a worker killed
mid-trial, a server killed mid-trial, SIGTERM, and the embedded DLRM trainer.

Usage: worker_integration_test.py --server-bin PATH --worker-bin PATH --source-dir DIR
"""
import os
import signal
import sys
import unittest

from harness import ProcessTestCase, Worker, run_process_tests, wait_for

ARGS = None
TOY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "toy_train.py")


class WorkerIntegrationTest(ProcessTestCase):
    prefix = "hpo-worker-it-"

    def setUp(self):
        super().setUp()
        self.markers = os.path.join(self.dir, "markers")
        os.makedirs(self.markers)
        self.start_server(["--lease_timeout_seconds=2", "--max_lease_attempts=3"])

    # ---- helpers ----
    def stub(self):
        import grpc
        from hpo.v1 import experiment_service_pb2_grpc
        return experiment_service_pb2_grpc.ExperimentServiceStub(
            grpc.insecure_channel(self.server.address))

    def pb(self):
        from hpo.v1 import experiment_pb2, experiment_service_pb2, search_space_pb2
        return experiment_pb2, experiment_service_pb2, search_space_pb2

    def create_toy_experiment(self, budget, bandwidth, pruner_lower=None, max_steps=5,
                              behaviors=("ok", "fail", "slow")):
        e, s, ss = self.pb()
        exp = e.Experiment(name="toy", observation_budget=budget, parallel_bandwidth=bandwidth)
        exp.search_space.parameters.add(name="x", type=ss.PARAMETER_TYPE_DOUBLE,
                                        bounds=ss.Bounds(min=0, max=1))
        exp.search_space.parameters.add(name="behavior", type=ss.PARAMETER_TYPE_CATEGORICAL,
                                        categorical_values=behaviors)
        exp.metrics.add(name="score", objective=e.OBJECTIVE_MAXIMIZE)
        exp.training.max_steps = max_steps
        exp.optimizer.algorithm = "random"
        if pruner_lower is not None:
            exp.pruner.threshold.lower = pruner_lower
        return self.stub().CreateExperiment(s.CreateExperimentRequest(experiment=exp)).experiment

    def queue(self, experiment_id, x, behavior):
        e, s, ss = self.pb()
        a = ss.Assignment()
        a.values["x"].number_value = x
        a.values["behavior"].string_value = behavior
        return self.stub().QueueSuggestion(
            s.QueueSuggestionRequest(experiment_id=experiment_id, assignment=a)).suggestion

    def start_worker(self, name, extra=()):
        w = Worker(ARGS.worker_bin, self.server, self.dir, name,
                   ["--command", "/usr/bin/python3 " + TOY, "--pass_env", "TOY_MARKER_DIR"]
                   + list(extra), env={"TOY_MARKER_DIR": self.markers})
        self.workers.append(w)
        return w

    def suggestions(self, experiment_id):
        _, s, _ = self.pb()
        return list(self.stub().ListSuggestions(
            s.ListSuggestionsRequest(experiment_id=experiment_id)).suggestions)

    def observations(self, experiment_id):
        _, s, _ = self.pb()
        return list(self.stub().ListObservations(
            s.ListObservationsRequest(experiment_id=experiment_id)).observations)

    def experiment(self, experiment_id):
        _, s, _ = self.pb()
        return self.stub().GetExperiment(s.GetExperimentRequest(experiment_id=experiment_id)).experiment

    def steps_reached(self, suggestion_id):
        path = os.path.join(self.markers, "%d.steps" % suggestion_id)
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [int(line) for line in f if line.strip()]

    # ---- tests ----
    def test_two_workers_share_an_experiment_within_bandwidth(self):
        exp = self.create_toy_experiment(budget=6, bandwidth=2)
        a = self.start_worker("a", ["--exit_when_idle"])
        b = self.start_worker("b", ["--exit_when_idle"])
        e, _, _ = self.pb()
        wait_for(lambda: self.experiment(exp.id).state == e.EXPERIMENT_STATE_COMPLETED, 120,
                 "the experiment to complete")
        observations = self.observations(exp.id)
        self.assertEqual(len(observations), 6)
        workers = {o.metadata["worker_id"] for o in observations}
        self.assertEqual(len(workers), 2, workers)
        self.assertEqual(a.wait(60), 0)
        self.assertEqual(b.wait(60), 0)

    def test_pruned_trial_stops_within_one_checkpoint(self):
        exp = self.create_toy_experiment(budget=2, bandwidth=1, pruner_lower=0.5, max_steps=20)
        low = self.queue(exp.id, 0.2, "slow")   # below the threshold from step 1
        high = self.queue(exp.id, 0.9, "ok")
        self.start_worker("a", ["--exit_when_idle"]).wait(120)
        e, _, _ = self.pb()
        states = {s.id: s for s in self.suggestions(exp.id)}
        self.assertEqual(states[low.id].state, e.SUGGESTION_STATE_PRUNED)
        self.assertEqual(states[low.id].stop_step, 1)
        self.assertIn("threshold", states[low.id].stop_reason)
        self.assertLessEqual(max(self.steps_reached(low.id)), 2)  # killed within one checkpoint
        self.assertEqual(states[high.id].state, e.SUGGESTION_STATE_COMPLETED)
        self.assertEqual(max(self.steps_reached(high.id)), 20)

    def test_failing_program_is_a_failed_trial_with_exit_status_and_output(self):
        exp = self.create_toy_experiment(budget=1, bandwidth=1)
        self.queue(exp.id, 0.5, "fail")
        self.assertEqual(self.start_worker("a", ["--exit_when_idle"]).wait(60), 0)
        (observation,) = self.observations(exp.id)
        self.assertTrue(observation.failed)
        self.assertIn("exit status 3", observation.failure_reason)
        self.assertIn("simulated crash ??", observation.failure_reason)  # bytes not UTF-8

    def test_refused_result_fails_the_trial_once_instead_of_rerunning_it(self):
        exp = self.create_toy_experiment(budget=1, bandwidth=1, max_steps=2,
                                         behaviors=("ok", "bad_result"))
        s = self.queue(exp.id, 0.5, "bad_result")  # reports a metric the experiment lacks
        self.assertEqual(self.start_worker("a", ["--exit_when_idle"]).wait(60), 0)
        (observation,) = self.observations(exp.id)
        self.assertTrue(observation.failed)
        self.assertIn("refused", observation.failure_reason)
        self.assertIn("no_such_metric", observation.failure_reason)
        self.assertEqual(self.steps_reached(s.id), [1, 2])  # the program ran once

    def test_values_reach_the_command_as_data_not_as_shell(self):
        e, s, ss = self.pb()
        exp = e.Experiment(name="quoting", observation_budget=1, parallel_bandwidth=1)
        exp.search_space.parameters.add(name="x", type=ss.PARAMETER_TYPE_DOUBLE,
                                        bounds=ss.Bounds(min=0, max=1))
        exp.search_space.parameters.add(name="a", type=ss.PARAMETER_TYPE_CATEGORICAL,
                                        categorical_values=["{b}", "plain"])
        exp.search_space.parameters.add(name="b", type=ss.PARAMETER_TYPE_CATEGORICAL,
                                        categorical_values=["x; touch PWNED; echo ", "$(touch PWNED)"])
        exp.metrics.add(name="score", objective=e.OBJECTIVE_MAXIMIZE)
        exp.training.max_steps = 2
        exp.optimizer.algorithm = "random"
        exp = self.stub().CreateExperiment(s.CreateExperimentRequest(experiment=exp)).experiment
        a = ss.Assignment()
        a.values["x"].number_value = 0.5
        a.values["a"].string_value = "{b}"
        a.values["b"].string_value = "x; touch PWNED; echo "
        self.stub().QueueSuggestion(s.QueueSuggestionRequest(experiment_id=exp.id, assignment=a))
        command = "cd %s && printf '[%%s]' {a} {b} \"--b={b}\" > args.txt && /usr/bin/python3 %s" % (
            self.dir, TOY)
        w = Worker(ARGS.worker_bin, self.server, self.dir, "a",
                   ["--command", command, "--exit_when_idle"])
        self.workers.append(w)
        self.assertEqual(w.wait(60), 0)
        with open(os.path.join(self.dir, "args.txt")) as f:
            self.assertEqual(f.read(), "[{b}][x; touch PWNED; echo ][--b=x; touch PWNED; echo ]")
        self.assertFalse(os.path.exists(os.path.join(self.dir, "PWNED")))
        (observation,) = self.observations(exp.id)
        self.assertFalse(observation.failed, observation.failure_reason)

    def test_killed_worker_loses_its_lease_and_another_finishes_the_trial(self):
        exp = self.create_toy_experiment(budget=1, bandwidth=1, max_steps=10)
        s = self.queue(exp.id, 0.7, "slow")
        a = self.start_worker("a")
        wait_for(lambda: len(self.steps_reached(s.id)) >= 2, 60, "worker a to be mid-trial")
        a.kill(signal.SIGKILL)
        a.wait(30)
        b = self.start_worker("b", ["--max_trials=1"])  # waits for the lease to expire
        self.assertEqual(b.wait(120), 0)
        (observation,) = self.observations(exp.id)
        self.assertFalse(observation.failed)
        self.assertEqual(observation.metadata["worker_id"].startswith("w-"), True)
        (suggestion,) = self.suggestions(exp.id)
        self.assertEqual(suggestion.attempts, 2)

    def test_server_restart_mid_trial_loses_and_duplicates_nothing(self):
        exp = self.create_toy_experiment(budget=1, bandwidth=1, max_steps=15)
        s = self.queue(exp.id, 0.6, "slow")
        w = self.start_worker("a", ["--exit_when_idle"])
        wait_for(lambda: len(self.steps_reached(s.id)) >= 3, 60, "the trial to be running")
        self.server.kill()
        self.server.start()  # same port and database
        self.assertEqual(w.wait(120), 0)
        observations = self.observations(exp.id)
        self.assertEqual(len(observations), 1)
        self.assertAlmostEqual(observations[0].values[0].value, 0.6)
        _, svc, _ = self.pb()
        curve = self.stub().ListCheckpoints(
            svc.ListCheckpointsRequest(experiment_id=exp.id, suggestion_id=s.id)).checkpoints
        steps = [c.step for c in curve]
        self.assertEqual(steps, sorted(set(steps)))  # no duplicates
        self.assertEqual(steps[-1], 15)

    def test_sigterm_gives_the_lease_back_and_exits(self):
        exp = self.create_toy_experiment(budget=1, bandwidth=1, max_steps=50)
        s = self.queue(exp.id, 0.6, "slow")
        w = self.start_worker("a")
        wait_for(lambda: len(self.steps_reached(s.id)) >= 2, 60, "the trial to be running")
        w.kill(signal.SIGTERM)
        self.assertEqual(w.wait(60), 0)
        e, _, _ = self.pb()
        (suggestion,) = self.suggestions(exp.id)
        self.assertEqual(suggestion.state, e.SUGGESTION_STATE_OPEN)
        self.assertEqual(suggestion.worker_id, "")
        self.assertEqual(self.observations(exp.id), [])

    @unittest.skipUnless(os.environ.get("HPO_WITH_TORCH") == "1", "built without the DLRM trainer")
    def test_embedded_dlrm_trainer_runs_trials(self):
        e, s, ss = self.pb()
        exp = e.Experiment(name="dlrm-tiny", observation_budget=2, parallel_bandwidth=1)
        exp.search_space.parameters.add(name="lr", type=ss.PARAMETER_TYPE_DOUBLE,
                                        bounds=ss.Bounds(min=0.01, max=0.1),
                                        transformation=ss.TRANSFORMATION_LOG)
        exp.metrics.add(name="auc", objective=e.OBJECTIVE_MAXIMIZE)
        exp.metrics.add(name="train_seconds", objective=e.OBJECTIVE_MINIMIZE,
                        strategy=e.METRIC_STRATEGY_STORE)
        exp.training.parameter_mapping["learning_rate"] = "lr"
        exp.training.fixed_options["optimizer"] = "adagrad"
        exp.training.fixed_options["batch_size"] = "256"
        exp.training.fixed_options["synthetic_test_examples"] = "4096"
        exp.training.max_steps = 60
        exp.training.eval_every_steps = 20
        created = self.stub().CreateExperiment(s.CreateExperimentRequest(experiment=exp)).experiment
        w = Worker(ARGS.worker_bin, self.server, self.dir, "dlrm",
                   ["--exit_when_idle", "--threads=1"])
        self.workers.append(w)
        self.assertEqual(w.wait(300), 0)
        observations = self.observations(created.id)
        self.assertEqual(len(observations), 2)
        for o in observations:
            self.assertFalse(o.failed, o.failure_reason)
            auc = {v.name: v.value for v in o.values}["auc"]
            self.assertGreater(auc, 0.5)
        curve = self.stub().ListCheckpoints(s.ListCheckpointsRequest(
            experiment_id=created.id, suggestion_id=observations[0].suggestion_id)).checkpoints
        self.assertEqual([c.step for c in curve], [20, 40, 60])


if __name__ == "__main__":
    run_process_tests(sys.modules[__name__])
