#!/usr/bin/python3
"""Crash safety of hpo-server: nothing acknowledged is lost or duplicated across SIGKILLs.

test_sigkill_under_concurrent_load: a real hpo-server on a temporary SQLite file takes writes from
16 threads at once: 8 clients (CreateSuggestion + CreateObservation on two shared experiments with
a large budget and parallel bandwidth) and 8 workers (RegisterWorker, LeaseTrial, a ReportProgress
stream of checkpoints, CompleteTrial on two other experiments). Every thread records exactly what
the server acknowledged: a suggestion id once CreateSuggestion/LeaseTrial returned it, an
observation (id, values) once CreateObservation/CompleteTrial returned OK, a checkpoint (step,
values) once its ProgressDecision arrived. The server is killed with SIGKILL after a random number
of further acknowledgements (seeded: HPO_CRASH_SEED), restarted on the same file, and checked:
every acknowledged suggestion, observation and checkpoint is there with identical values; nothing
is duplicated (one observation per suggestion, unique steps per curve); what was stored without
being acknowledged (in flight at the kill) holds exactly the values that were sent; and retrying
an acknowledged CreateObservation / CompleteTrial returns the stored observation, not a second row.
Writers retry through the outage like real clients (the retries are the idempotency path too).
Three kill/restart cycles, then a last check with the writers stopped.

test_killed_worker_trial_is_finished_by_another_worker: real hpo-worker processes in --command
mode run toy_train.py (slow checkpoints); one is killed with SIGKILL mid-trial; with
--lease_timeout_seconds=2 its lease expires, the trial returns to the pool and another worker
finishes it; the experiment ends with exactly one observation per suggestion and complete,
duplicate-free learning curves.

Usage: crash_safety_test.py --server-bin PATH --worker-bin PATH --source-dir DIR
"""
import os
import queue
import random
import signal
import sys
import threading
import time
import unittest

from harness import ProcessTestCase, Worker, all_pages, run_process_tests, wait_for

ARGS = None
TOY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "toy_train.py")
SEED = int(os.environ.get("HPO_CRASH_SEED", "20240611"))
CLIENT_THREADS = 8
WORKER_THREADS = 8
CYCLES = 3
MAX_STEPS = 6            # checkpoints per worker trial
KILL_AFTER = (200, 800)  # the kill comes after this many more acknowledgements (seeded)
RPC_TIMEOUT = 30         # seconds; a call also waits this long for the restarted server
CHANNEL_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 50),
                   ("grpc.min_reconnect_backoff_ms", 50),
                   ("grpc.max_reconnect_backoff_ms", 250)]


def pb():
    from hpo.v1 import (experiment_pb2, experiment_service_pb2, experiment_service_pb2_grpc,
                        search_space_pb2, trial_service_pb2, trial_service_pb2_grpc)
    return (experiment_pb2, experiment_service_pb2, experiment_service_pb2_grpc, search_space_pb2,
            trial_service_pb2, trial_service_pb2_grpc)


def e_pb():
    return pb()[0]


def values_of(metric_values):
    """{name: value} of repeated MetricValue, refusing a name that appears twice."""
    out = {}
    for v in metric_values:
        if v.name in out:
            raise AssertionError("metric %s appears twice" % v.name)
        out[v.name] = v.value
    return out


class Ledger:
    """What the server acknowledged (and what was sent), shared by the writer threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.suggestions = {}       # suggestion id -> experiment id (acknowledged)
        self.observations = {}      # suggestion id -> (observation id, {metric: value}, worker_id)
        self.sent_observations = {}  # suggestion id -> {metric: value} (sent, maybe not acked)
        self.checkpoints = {}       # (suggestion id, step) -> (elapsed_seconds, {metric: value})
        self.sent_checkpoints = {}  # same, sent
        self.acks = 0
        self.retries = 0            # calls repeated after UNAVAILABLE / DEADLINE_EXCEEDED
        self.server_retry_errors = 0  # UNAVAILABLE answered by a live server ("retry")
        self.failures = []          # unexpected errors: they fail the test

    def ack(self, n=1):
        with self.lock:
            self.acks += n

    def snapshot(self):
        with self.lock:
            return (dict(self.suggestions), dict(self.observations), dict(self.sent_observations),
                    dict(self.checkpoints), dict(self.sent_checkpoints))


class Writer(threading.Thread):
    """Base: a channel that reconnects fast, and calls retried while the server is away."""

    def __init__(self, name, address, ledger, stop, seed):
        super().__init__(name=name, daemon=True)
        import grpc
        self.grpc = grpc
        self.channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
        self.ledger = ledger
        self.stop = stop
        self.rng = random.Random(seed)

    def call(self, method, request):
        """Calls until the server answers. Retrying is what a real client does after a crash;
        for CreateObservation, LeaseTrial and CompleteTrial the retry must be idempotent."""
        grpc = self.grpc
        deadline = time.monotonic() + 120
        while True:
            try:
                return method(request, timeout=RPC_TIMEOUT, wait_for_ready=True)
            except grpc.RpcError as e:
                retryable = e.code() in (grpc.StatusCode.UNAVAILABLE,
                                         grpc.StatusCode.DEADLINE_EXCEEDED)
                if not retryable or time.monotonic() > deadline:
                    raise
                with self.ledger.lock:
                    self.ledger.retries += 1
                    if "retry" in (e.details() or ""):  # the server itself asked for a retry
                        self.ledger.server_retry_errors += 1

    def run(self):
        try:
            while not self.stop.is_set():
                self.one_round()
        except Exception as e:  # noqa: BLE001 - reported by the test
            with self.ledger.lock:
                self.ledger.failures.append("%s: %r" % (self.name, e))
        finally:
            self.channel.close()


class ClientWriter(Writer):
    """CreateSuggestion then CreateObservation, forever."""

    def __init__(self, experiment_id, *args):
        super().__init__(*args)
        _, s, sg, _, _, _ = pb()
        self.s = s
        self.stub = sg.ExperimentServiceStub(self.channel)
        self.experiment_id = experiment_id

    def one_round(self):
        s = self.s
        sug = self.call(self.stub.CreateSuggestion,
                        s.CreateSuggestionRequest(experiment_id=self.experiment_id)).suggestion
        with self.ledger.lock:
            self.ledger.suggestions[sug.id] = self.experiment_id
        self.ledger.ack()
        values = {"score": round(self.rng.uniform(-5, 5), 6), "cost": self.rng.random()}
        request = s.CreateObservationRequest(experiment_id=self.experiment_id,
                                             suggestion_id=sug.id)
        for name, value in values.items():
            request.values.add(name=name, value=value)
        with self.ledger.lock:
            self.ledger.sent_observations[sug.id] = values
        obs = self.call(self.stub.CreateObservation, request).observation
        if obs.suggestion_id != sug.id or values_of(obs.values) != values:
            raise AssertionError("CreateObservation for %d answered %s" % (sug.id, obs))
        with self.ledger.lock:
            self.ledger.observations[sug.id] = (obs.id, values, "")
        self.ledger.ack()


class TrialWriter(Writer):
    """A worker: lease, stream MAX_STEPS checkpoints (one decision each), complete."""

    def __init__(self, experiment_id, *args):
        super().__init__(*args)
        _, _, _, _, t, tg = pb()
        self.t = t
        self.stub = tg.TrialServiceStub(self.channel)
        self.experiment_id = experiment_id
        self.worker_id = None

    def one_round(self):
        t = self.t
        if self.worker_id is None:
            self.worker_id = self.call(self.stub.RegisterWorker, t.RegisterWorkerRequest(
                worker=t.WorkerInfo(name=self.name, host="crash-test", threads=1))).worker_id
        lease = self.call(self.stub.LeaseTrial, t.LeaseTrialRequest(
            worker_id=self.worker_id, experiment_id=self.experiment_id))
        if not lease.HasField("suggestion"):
            raise AssertionError("LeaseTrial gave no work although budget and bandwidth remain")
        sid = lease.suggestion.id
        with self.ledger.lock:
            self.ledger.suggestions[sid] = self.experiment_id
        self.ledger.ack()
        stopped = self.report_progress(sid)
        values = {"score": round(self.rng.uniform(0, 1), 6)}
        request = t.CompleteTrialRequest(worker_id=self.worker_id, suggestion_id=sid)
        request.values.add(name="score", value=values["score"])
        with self.ledger.lock:
            self.ledger.sent_observations[sid] = values
        obs = self.call(self.stub.CompleteTrial, request).observation
        if obs.suggestion_id != sid or values_of(obs.values) != values:
            raise AssertionError("CompleteTrial for %d answered %s (stopped: %s)" % (sid, obs, stopped))
        with self.ledger.lock:
            self.ledger.observations[sid] = (obs.id, values, self.worker_id)
        self.ledger.ack()

    def report_progress(self, sid):
        """Streams the checkpoints; when the stream breaks (server killed), reopens it and resends
        from the last acknowledged step (that one again too: a resent step must not duplicate).
        Returns the stop reason if the server said stop."""
        grpc, t = self.grpc, self.t
        step = 1  # always the last acknowledged step + 1
        reason = None
        deadline = time.monotonic() + 120
        while step <= MAX_STEPS and reason is None:
            requests = queue.Queue()
            stream = self.stub.ReportProgress(feed(requests), timeout=RPC_TIMEOUT,
                                              wait_for_ready=True)
            try:
                if step > 1:  # a reopened stream: resend the last acknowledged checkpoint
                    step -= 1
                while step <= MAX_STEPS and reason is None:
                    key = (sid, step)
                    with self.ledger.lock:
                        sent = self.ledger.sent_checkpoints.get(key)
                        if sent is None:
                            sent = (round(0.1 * step, 3), {"score": round(self.rng.random(), 6),
                                                           "train_loss": round(1.0 / step, 6)})
                            self.ledger.sent_checkpoints[key] = sent
                    report = t.ProgressReport(worker_id=self.worker_id, suggestion_id=sid)
                    report.checkpoint.step = step
                    report.checkpoint.elapsed_seconds = sent[0]
                    for name, value in sent[1].items():
                        report.checkpoint.metrics.add(name=name, value=value)
                    requests.put(report)
                    decision = next(stream)
                    if decision.step != step:
                        raise AssertionError("decision for step %d answered step %d" %
                                             (step, decision.step))
                    with self.ledger.lock:
                        new = key not in self.ledger.checkpoints
                        self.ledger.checkpoints[key] = sent
                    if new:
                        self.ledger.ack()
                    step += 1
                    if decision.decision == t.DECISION_STOP:
                        reason = decision.reason or "stopped"
                requests.put(None)
                for _ in stream:  # the server closes its side
                    pass
            except grpc.RpcError as e:
                stream.cancel()
                requests.put(None)
                if e.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                                    grpc.StatusCode.CANCELLED) or time.monotonic() > deadline:
                    raise
                with self.ledger.lock:
                    self.ledger.retries += 1
        return reason


def feed(requests):
    """Request iterator of a progress stream: the queue's items until None."""
    while True:
        item = requests.get()
        if item is None:
            return
        yield item


class CrashSafetyTest(ProcessTestCase):
    prefix = "hpo-crash-"

    def setUp(self):
        super().setUp()

    def stubs(self):
        import grpc
        _, _, sg, _, _, tg = pb()
        channel = grpc.insecure_channel(self.server.address)
        return sg.ExperimentServiceStub(channel), tg.TrialServiceStub(channel)

    def create_experiment(self, name, metrics, max_steps=0, budget=1000000, bandwidth=1000):
        e, s, _, ss, _, _ = pb()
        exp = e.Experiment(name=name, observation_budget=budget, parallel_bandwidth=bandwidth)
        exp.search_space.parameters.add(name="x", type=ss.PARAMETER_TYPE_DOUBLE,
                                        bounds=ss.Bounds(min=0, max=1))
        exp.search_space.parameters.add(name="n", type=ss.PARAMETER_TYPE_INT,
                                        bounds=ss.Bounds(min=1, max=64))
        for m in metrics:
            exp.metrics.add(name=m, objective=e.OBJECTIVE_MAXIMIZE)
        exp.optimizer.algorithm = "random"
        if max_steps:
            exp.training.max_steps = max_steps
        stub, _ = self.stubs()
        return stub.CreateExperiment(s.CreateExperimentRequest(experiment=exp)).experiment

    # ---- checks ----
    def check_store(self, ledger, experiment_ids, stage):
        """Compares the store with the ledger. Returns counts for the report."""
        _, s, _, _, _, _ = pb()
        stub, _ = self.stubs()
        # Acknowledged before the store is read: must all be there. Sent after: whatever is stored
        # was sent by then (the writers keep going while this runs).
        acked_sugs, acked_obs, _, acked_cps, _ = ledger.snapshot()
        lost, duplicated, unacked_stored = [], [], 0
        stored_obs, stored_sugs = {}, {}
        for exp_id in experiment_ids:
            for sug in all_pages(stub.ListSuggestions,
                                 s.ListSuggestionsRequest(experiment_id=exp_id), "suggestions",
                                 timeout=60):
                stored_sugs[sug.id] = sug
            for o in all_pages(stub.ListObservations,
                               s.ListObservationsRequest(experiment_id=exp_id), "observations",
                               timeout=60):
                if o.suggestion_id in stored_obs:
                    duplicated.append("observation of suggestion %d" % o.suggestion_id)
                stored_obs[o.suggestion_id] = o
        _, _, sent_obs, _, _ = ledger.snapshot()
        for sid, exp_id in acked_sugs.items():
            if sid not in stored_sugs or stored_sugs[sid].experiment_id != exp_id:
                lost.append("suggestion %d" % sid)
        for sid, (obs_id, values, _) in acked_obs.items():
            o = stored_obs.get(sid)
            if o is None:
                lost.append("observation of suggestion %d" % sid)
            elif o.id != obs_id or values_of(o.values) != values or o.failed:
                lost.append("observation of suggestion %d: acked %d %s, stored %d %s" %
                            (sid, obs_id, values, o.id, values_of(o.values)))
        for sid, o in stored_obs.items():
            if sid in acked_obs:
                continue
            # Committed but the answer never arrived (in flight at the kill): exactly what was sent.
            unacked_stored += 1
            self.assertIn(sid, sent_obs, "%s: observation of suggestion %d was never sent" % (stage, sid))
            self.assertEqual(values_of(o.values), sent_obs[sid], "%s: suggestion %d" % (stage, sid))
        curves = {}
        for sid in sorted(sid for sid, sug in stored_sugs.items() if sug.attempts > 0):  # leased
            curve = stub.ListCheckpoints(s.ListCheckpointsRequest(
                experiment_id=stored_sugs[sid].experiment_id, suggestion_id=sid), timeout=60).checkpoints
            steps = [c.step for c in curve]
            if len(steps) != len(set(steps)):
                duplicated.append("checkpoint steps of suggestion %d: %s" % (sid, steps))
            curves[sid] = {c.step: (c.elapsed_seconds, values_of(c.metrics)) for c in curve}
        _, _, _, _, sent_cps = ledger.snapshot()
        for sid, curve in curves.items():
            for step, point in curve.items():  # stored (acknowledged or not) == sent
                self.assertEqual(point, sent_cps.get((sid, step)),
                                 "%s: checkpoint %d/%d differs from what was sent" % (stage, sid, step))
        for (sid, step), point in acked_cps.items():
            if curves.get(sid, {}).get(step) != point:
                lost.append("checkpoint %d of suggestion %d" % (step, sid))
        self.assertEqual(lost, [], "%s: acknowledged writes lost or changed" % stage)
        self.assertEqual(duplicated, [], "%s: duplicated" % stage)
        # A CreateSuggestion committed but unanswered leaves an open suggestion nobody observes (the
        # client's retry gets a new one): not a loss, but it holds a parallel-bandwidth slot.
        orphans = sum(1 for sid, sug in stored_sugs.items()
                      if sid not in acked_sugs and sug.state == e_pb().SUGGESTION_STATE_OPEN)
        return {"observations": len(acked_obs), "checkpoints": len(acked_cps), "orphans": orphans,
                "suggestions": len(acked_sugs), "unacked_stored": unacked_stored,
                "lost": len(lost), "duplicated": len(duplicated), "stored_obs": len(stored_obs)}

    def check_retries_are_idempotent(self, ledger, rng, sample, stage):
        """Resends acknowledged CreateObservation / CompleteTrial: the stored observation comes back
        and no row is added; different values for an observed suggestion are ALREADY_EXISTS."""
        import grpc
        _, s, _, _, t, _ = pb()
        stub, trial = self.stubs()
        acked_sugs, acked_obs, _, _, _ = ledger.snapshot()
        chosen = rng.sample(sorted(acked_obs), min(sample, len(acked_obs)))
        for sid in chosen:
            obs_id, values, worker_id = acked_obs[sid]
            if worker_id:
                request = t.CompleteTrialRequest(worker_id=worker_id, suggestion_id=sid)
                method = trial.CompleteTrial
            else:
                request = s.CreateObservationRequest(experiment_id=acked_sugs[sid], suggestion_id=sid)
                method = stub.CreateObservation
            for name, value in values.items():
                request.values.add(name=name, value=value)
            again = method(request, timeout=60).observation
            self.assertEqual((again.id, values_of(again.values)), (obs_id, values),
                             "%s: retried observation of suggestion %d" % (stage, sid))
        if chosen:
            sid = chosen[0]
            request = s.CreateObservationRequest(experiment_id=acked_sugs[sid], suggestion_id=sid)
            for name, value in acked_obs[sid][1].items():
                request.values.add(name=name, value=value + 1)
            with self.assertRaises(grpc.RpcError) as caught:
                stub.CreateObservation(request, timeout=60)
            self.assertEqual(caught.exception.code(), grpc.StatusCode.ALREADY_EXISTS)
        return len(chosen)

    # ---- tests ----
    def test_sigkill_under_concurrent_load(self):
        self.start_server()
        clients = [self.create_experiment("clients-%d" % i, ["score", "cost"]).id for i in range(2)]
        trials = [self.create_experiment("trials-%d" % i, ["score"], max_steps=MAX_STEPS).id
                  for i in range(2)]
        ledger, stop, rng = Ledger(), threading.Event(), random.Random(SEED)
        writers = []
        for i in range(CLIENT_THREADS):
            writers.append(ClientWriter(clients[i % 2], "client-%d" % i, self.server.address,
                                        ledger, stop, SEED * 100 + i))
        for i in range(WORKER_THREADS):
            writers.append(TrialWriter(trials[i % 2], "worker-%d" % i, self.server.address,
                                       ledger, stop, SEED * 100 + 50 + i))
        for w in writers:
            w.start()
        try:
            kills, resent, unanswered = 0, 0, 0
            for cycle in range(1, CYCLES + 1):
                target = ledger.acks + rng.randint(*KILL_AFTER)
                wait_for(lambda: ledger.failures or ledger.acks >= target, 90,
                         "%d acknowledgements before kill %d" % (target, cycle))
                self.assertEqual(ledger.failures, [])
                at_kill = ledger.acks
                self.server.kill()  # SIGKILL, mid-load
                kills += 1
                self.server.start()  # same file, same port
                counts = self.check_store(ledger, clients + trials, "after kill %d" % cycle)
                unanswered += counts["unacked_stored"]
                resent += self.check_retries_are_idempotent(ledger, rng, 20, "after kill %d" % cycle)
                print("kill %d after %d acks: %s" % (cycle, at_kill, counts), flush=True)
                # The writers get going again on the restarted server.
                after = ledger.acks + 20
                wait_for(lambda: ledger.failures or ledger.acks >= after, 90,
                         "writes after restart %d" % cycle)
                self.assertEqual(ledger.failures, [])
        finally:
            stop.set()
            for w in writers:
                w.join(timeout=2 * RPC_TIMEOUT)
        self.assertEqual(ledger.failures, [])
        self.assertFalse(any(w.is_alive() for w in writers), "a writer did not stop")
        counts = self.check_store(ledger, clients + trials, "final")
        resent += self.check_retries_are_idempotent(ledger, rng, 100, "final")
        self.assertEqual(self.check_store(ledger, clients + trials, "after retries")["stored_obs"],
                         counts["stored_obs"], "a retried observation added a row")
        # Each experiment's counters agree with its rows.
        _, s, _, _, _, _ = pb()
        stub, _ = self.stubs()
        for exp_id in clients + trials:
            e = stub.GetExperiment(s.GetExperimentRequest(experiment_id=exp_id)).experiment
            n = len(all_pages(stub.ListObservations,
                              s.ListObservationsRequest(experiment_id=exp_id), "observations"))
            self.assertEqual(e.progress.observation_count, n)
        self.assertGreater(counts["observations"], 0)
        self.assertGreater(counts["checkpoints"], 0)
        print("crash safety: acknowledged %d observations, %d checkpoints (%d suggestions) over %d "
              "SIGKILLs; lost %d, duplicated %d; %d observations found stored before their answer "
              "arrived (values as sent); %d calls retried through outages (%d asked by a live "
              "server); %d acknowledged observations resent: each returned the stored row; %d "
              "suggestions committed but unanswered left open (seed %d)" % (
                  counts["observations"], counts["checkpoints"], counts["suggestions"], kills,
                  counts["lost"], counts["duplicated"], unanswered, ledger.retries,
                  ledger.server_retry_errors, resent, counts["orphans"], SEED), flush=True)

    def test_killed_worker_trial_is_finished_by_another_worker(self):
        self.start_server(["--lease_timeout_seconds=2", "--max_lease_attempts=3"])
        e, s, _, ss, _, _ = pb()
        stub, _ = self.stubs()
        exp = e.Experiment(name="toy", observation_budget=4, parallel_bandwidth=2)
        exp.search_space.parameters.add(name="x", type=ss.PARAMETER_TYPE_DOUBLE,
                                        bounds=ss.Bounds(min=0, max=1))
        exp.search_space.parameters.add(name="behavior", type=ss.PARAMETER_TYPE_CATEGORICAL,
                                        categorical_values=["ok", "fail", "slow"])
        exp.metrics.add(name="score", objective=e.OBJECTIVE_MAXIMIZE)
        exp.training.max_steps = 8
        exp.optimizer.algorithm = "random"
        exp = stub.CreateExperiment(s.CreateExperimentRequest(experiment=exp)).experiment
        xs = {}
        for x in (0.11, 0.22, 0.33, 0.44):
            a = ss.Assignment()
            a.values["x"].number_value = x
            a.values["behavior"].string_value = "slow"
            xs[stub.QueueSuggestion(s.QueueSuggestionRequest(experiment_id=exp.id,
                                                             assignment=a)).suggestion.id] = x
        markers = os.path.join(self.dir, "markers")
        os.makedirs(markers)

        def start_worker(name, extra=()):
            w = Worker(ARGS.worker_bin, self.server, self.dir, name,
                       ["--command", "/usr/bin/python3 " + TOY, "--experiment", str(exp.id),
                        "--pass_env", "TOY_MARKER_DIR"]
                       + list(extra), env={"TOY_MARKER_DIR": markers})
            self.workers.append(w)
            return w

        def steps_reached(sid):
            path = os.path.join(markers, "%d.steps" % sid)
            if not os.path.exists(path):
                return []
            with open(path) as f:
                return [int(line) for line in f if line.strip()]

        def suggestions():
            return {x.id: x for x in stub.ListSuggestions(
                s.ListSuggestionsRequest(experiment_id=exp.id)).suggestions}

        id_file = os.path.join(self.dir, "a.id")

        def a_id_written():
            if not os.path.exists(id_file):
                return None
            with open(id_file) as f:
                return f.read().strip()
        a = start_worker("a", ["--worker_id_file", id_file])
        start_worker("b")
        a_id = wait_for(a_id_written, 30, "worker a to register")

        def a_mid_trial():
            for sug in suggestions().values():
                if (sug.state == e.SUGGESTION_STATE_ACTIVE and sug.worker_id == a_id
                        and len(steps_reached(sug.id)) >= 2):
                    return sug
            return None
        victim = wait_for(a_mid_trial, 60, "worker a to be mid-trial")
        a.kill(signal.SIGKILL)
        a.wait(30)
        reached = max(steps_reached(victim.id))
        start_worker("c")  # b and c compete for the trial once its lease expires
        wait_for(lambda: suggestions()[victim.id].state != e.SUGGESTION_STATE_ACTIVE
                 or suggestions()[victim.id].worker_id != a_id, 30,
                 "the killed worker's lease to expire")
        wait_for(lambda: stub.GetExperiment(s.GetExperimentRequest(experiment_id=exp.id))
                 .experiment.state == e.EXPERIMENT_STATE_COMPLETED, 120, "the experiment to complete")

        observations = stub.ListObservations(
            s.ListObservationsRequest(experiment_id=exp.id)).observations
        self.assertEqual(sorted(o.suggestion_id for o in observations), sorted(xs))  # one each
        final = suggestions()
        for o in observations:
            self.assertFalse(o.failed, o.failure_reason)
            self.assertAlmostEqual(values_of(o.values)["score"], xs[o.suggestion_id])
            self.assertEqual(final[o.suggestion_id].state, e.SUGGESTION_STATE_COMPLETED)
            curve = stub.ListCheckpoints(s.ListCheckpointsRequest(
                experiment_id=exp.id, suggestion_id=o.suggestion_id)).checkpoints
            self.assertEqual([c.step for c in curve], list(range(1, 9)), o.suggestion_id)
        by_victim = [o for o in observations if o.suggestion_id == victim.id][0]
        self.assertNotEqual(by_victim.metadata["worker_id"], a_id)
        self.assertEqual(final[victim.id].attempts, 2)
        # The trial ran twice: the killed worker's program from step 1 until it died with its
        # worker (at most one more step), then the new worker's from step 1 to the end. An orphaned
        # program still running would interleave a third run of steps.
        runs = []
        for step in steps_reached(victim.id):
            if runs and step == runs[-1][-1] + 1:
                runs[-1].append(step)
            else:
                runs.append([step])
        self.assertEqual(len(runs), 2, runs)
        self.assertEqual(runs[0][0], 1, runs)
        self.assertIn(len(runs[0]), (reached, reached + 1), runs)
        self.assertEqual(runs[1], list(range(1, 9)), runs)
        print("killed worker: suggestion %d (attempt 1 by %s, reached step %d) finished by %s; "
              "%d observations for %d suggestions" % (
                  victim.id, a_id, reached,
                  by_victim.metadata["worker_id"], len(observations), len(xs)), flush=True)


if __name__ == "__main__":
    run_process_tests(sys.modules[__name__])
