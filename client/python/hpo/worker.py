"""Workers written in Python: lease trials, report learning curves, obey prune decisions.

    def objective(trial):
        model = build(trial.params["lr"])
        for step in range(1, 11):
            auc = model.train_epoch()
            if trial.report(step, {"auc": auc}).stop:   # the server's pruner said stop
                break
        return {"auc": auc}

    hpo.Client().worker(experiment_id).run(objective)

This is hpo-worker's protocol (proto/hpo/v1/trial_service.proto) for a training loop that lives
in Python, in the spirit of Optuna's trial.report / trial.should_prune: a worker registers,
leases one trial at a time, heartbeats in a background thread while the trial runs (a lease not
renewed expires and the trial goes back to the pool), streams checkpoints with ReportProgress and
gets continue/stop for each, and completes the trial with its final values. A pruned trial is
completed too, with the values it reached (the server stores it as PRUNED).
"""

import logging
import socket
import threading
import time

import grpc

from hpo import errors
from hpo.client import metric_values, to_dict
from hpo.v1 import trial_service_pb2

_log = logging.getLogger("hpo")


class Decision:
    """The server's answer to a checkpoint: `stop` (bool), `reason` (why, when stopped), `step`."""

    __slots__ = ("stop", "reason", "step")

    def __init__(self, stop, reason="", step=0):
        self.stop, self.reason, self.step = stop, reason, step

    def __repr__(self):
        return f"Decision(stop={self.stop}, reason={self.reason!r}, step={self.step})"


class TrialPruned(Exception):
    """Raise inside an objective to end a stopped trial early (Optuna's idiom); Worker.run then
    completes it with the values last reported."""


class Trial:
    """One leased trial. Report checkpoints with report(), end it with complete(), fail() or
    release(). Used as a context manager, an exception fails the trial with its message, an
    interrupt (KeyboardInterrupt, SystemExit) gives it back to the pool, and a trial left without
    a result is completed with the values last reported.

    Attributes: id (the suggestion id), experiment_id, experiment and suggestion (protos),
    params (dict of the assignment), attempt, and for gang trials rank, world_size, master_addr
    and master_port (rank 0 reports; the other ranks only train their part).
    """

    def __init__(self, worker, lease):
        self._worker = worker
        self._client = worker.client
        self.suggestion = lease.suggestion
        self.experiment = lease.experiment
        self.id = lease.suggestion.id
        self.experiment_id = lease.suggestion.experiment_id
        self.attempt = lease.suggestion.attempts
        self.params = to_dict(lease.suggestion.assignment)
        gang = lease.gang if lease.HasField("gang") else None
        self.world_size = gang.world_size if gang and gang.world_size > 1 else 1
        self.rank = gang.rank if self.world_size > 1 else 0
        self.master_addr = gang.master_addr if self.world_size > 1 else ""
        self.master_port = gang.master_port if self.world_size > 1 else 0
        self.last_values = {}
        self.pruned = False
        self.lease_lost = False
        self.stop_reason = ""
        self._stop = threading.Event()
        self._finished = False
        self._started = time.monotonic()
        self._done = threading.Event()
        self._heartbeats = threading.Thread(target=self._heartbeat_loop, daemon=True,
                                            name=f"hpo-heartbeat-{self.id}")
        self._heartbeats.start()

    def __repr__(self):
        return f"hpo.Trial(id={self.id}, experiment_id={self.experiment_id}, params={self.params})"

    @property
    def should_stop(self):
        """True once the server stopped the trial (pruned, paused, deleted), or its lease was
        lost: stop training and complete() (the result of a lost lease is not taken)."""
        return self._stop.is_set()

    @property
    def finished(self):
        return self._finished

    def report(self, step, values, elapsed_seconds=None):
        """Sends a checkpoint: `step` (>= 0, increasing) and {metric: value}; returns the
        server's Decision. Sending a step again (after a retry) is answered again and stored
        once. Stop means the pruner ended the trial: stop training and complete it."""
        self._check_open()
        self.last_values = dict(values)
        if self.rank > 0 or self.should_stop:
            return Decision(self.should_stop, self.stop_reason, step)
        if elapsed_seconds is None:
            elapsed_seconds = time.monotonic() - self._started
        report = trial_service_pb2.ProgressReport(worker_id=self._worker.worker_id,
                                                  suggestion_id=self.id)
        report.checkpoint.step = step
        report.checkpoint.elapsed_seconds = float(elapsed_seconds)
        report.checkpoint.metrics.extend(metric_values(values))
        try:
            decision = self._send(report)
        except (errors.FailedPreconditionError, errors.NotFoundError) as error:
            self._lose_lease(error.details)
            return Decision(True, self.stop_reason, step)
        if decision.decision == trial_service_pb2.DECISION_STOP:
            self.pruned = True
            self._request_stop(f"stopped at step {decision.step}: {decision.reason}")
            return Decision(True, decision.reason, decision.step)
        return Decision(False, "", decision.step)

    def _send(self, report):
        # One short stream per checkpoint: a deadline bounds every wait, and a broken connection
        # costs only this report, which is retried like any call (UNAVAILABLE).
        client = self._client
        delay = 0.2
        for attempt in range(client.retries + 1):
            try:
                replies = client._trials.ReportProgress(iter((report,)), timeout=client.timeout,
                                                        metadata=client._metadata)
                for decision in replies:
                    return decision
                raise errors.InternalError("the progress stream closed without a decision")
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE or attempt == client.retries:
                    raise errors.from_rpc_error(error) from None
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def complete(self, values=None, metadata=None):
        """Ends the trial with its final {metric: value | (value, stddev)} (default: the values
        last reported). Returns the stored hpo.v1.Observation, or None when the lease was lost
        (another worker may have the trial now). A rank > 0 of a gang only gives its place back.
        """
        values = self.last_values if values is None else values
        request = trial_service_pb2.CompleteTrialRequest(
            worker_id=self._worker.worker_id, suggestion_id=self.id, metadata=metadata or {})
        if self.rank == 0:
            request.values.extend(metric_values(values))
            if self.pruned:
                request.metadata["stop_reason"] = self.stop_reason
        return self._finish(request)

    def fail(self, reason, metadata=None):
        """Ends the trial as failed (the optimizer learns to avoid the region)."""
        request = trial_service_pb2.CompleteTrialRequest(
            worker_id=self._worker.worker_id, suggestion_id=self.id, failed=True,
            failure_reason=str(reason)[:4096], metadata=metadata or {})
        return self._finish(request)

    def release(self, reason=""):
        """Gives the trial back to the pool without a result (another worker runs it)."""
        self._check_open()
        if not self.lease_lost:
            request = trial_service_pb2.ReleaseTrialRequest(
                worker_id=self._worker.worker_id, suggestion_id=self.id, reason=str(reason)[:4096])
            try:
                self._client._call(self._client._trials.ReleaseTrial, request)
            except (errors.FailedPreconditionError, errors.NotFoundError) as error:
                self._lose_lease(error.details)
        self._close()

    def _finish(self, request):
        # A refusal other than a lost lease leaves the trial open: fail() or release() it.
        self._check_open()
        observation = None
        if not self.lease_lost:
            try:
                observation = self._client._call(self._client._trials.CompleteTrial,
                                                 request).observation
            except (errors.FailedPreconditionError, errors.NotFoundError) as error:
                self._lose_lease(error.details)
        self._close()
        return observation

    def _check_open(self):
        if self._finished:
            raise errors.FailedPreconditionError(f"trial {self.id} is already finished")

    def _close(self):
        self._finished = True
        self._done.set()
        if threading.current_thread() is not self._heartbeats:
            self._heartbeats.join()

    def _request_stop(self, reason):
        if not self._stop.is_set():
            self.stop_reason = reason
            self._stop.set()

    def _lose_lease(self, details):
        self.lease_lost = True
        self._request_stop(f"lease lost: {details}")
        _log.warning("trial %d: %s", self.id, self.stop_reason)

    def _heartbeat_loop(self):
        request = trial_service_pb2.HeartbeatRequest(worker_id=self._worker.worker_id,
                                                     suggestion_id=self.id)
        while not self._done.wait(self._worker.heartbeat_interval):
            try:
                # No retries here: the next beat is the retry.
                response = self._client._call(self._client._trials.Heartbeat, request, retries=0)
            except errors.FailedPreconditionError as error:
                self._lose_lease(error.details)
                return
            except errors.HpoError as error:
                _log.warning("trial %d: heartbeat failed: %s", self.id, error)
                continue
            if response.stop:
                self._request_stop("the server asked to stop (pruned, paused, deleted, or a "
                                   "gang rank lost)")

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if self._finished:
            return False
        if kind is None:
            if self.last_values or self.rank > 0:
                self.complete()
            else:
                self.fail("the trial ended without reporting a result")
        elif issubclass(kind, TrialPruned):
            self.complete()
            return True
        elif issubclass(kind, (KeyboardInterrupt, SystemExit)):
            self.release(f"worker interrupted ({kind.__name__})")
        else:
            self.fail(f"{kind.__name__}: {error}")
        return False


class Worker:
    """Leases trials of one experiment (any the token may run when experiment_id is 0).

    name is shown by the server and the dashboard (default: host name); worker_id resumes an
    earlier registration (its leases); labels are free-form key/values (rendezvous_host and
    rendezvous_port for gang trials). idle_poll is how long to wait between asks while there is
    no work now but more may come.
    """

    def __init__(self, client, experiment_id=0, *, name=None, worker_id="", labels=None,
                 threads=0, idle_poll=2.0):
        self.client = client
        self.experiment_id = experiment_id
        self.info = trial_service_pb2.WorkerInfo(name=name or socket.gethostname(),
                                                 host=socket.gethostname(), threads=threads,
                                                 labels=labels or {})
        self.worker_id = worker_id
        self.idle_poll = idle_poll
        self.heartbeat_interval = 10.0
        self._registered = False
        self.work_pending = True
        self.gang_forming = False

    def register(self):
        """Registers with the server (done by the first lease)."""
        response = self.client._call(
            self.client._trials.RegisterWorker,
            trial_service_pb2.RegisterWorkerRequest(worker=self.info, worker_id=self.worker_id))
        self.worker_id = response.worker_id
        interval = response.heartbeat_interval.ToTimedelta().total_seconds()
        if interval > 0:
            self.heartbeat_interval = interval
        self._registered = True
        _log.info("registered as %s (heartbeat every %.1f s)", self.worker_id,
                  self.heartbeat_interval)
        return self.worker_id

    def lease(self):
        """Asks once for a trial: returns a Trial, or None when there is no work now. Sets
        self.work_pending: whether more may come (False: the experiments are done)."""
        if not self._registered:
            self.register()
        request = trial_service_pb2.LeaseTrialRequest(worker_id=self.worker_id,
                                                      experiment_id=self.experiment_id)
        try:
            response = self.client._call(self.client._trials.LeaseTrial, request)
        except errors.NotFoundError as error:
            if "worker_id" not in error.details:
                raise
            self.register()  # the server lost the registration (a new database)
            response = self.client._call(self.client._trials.LeaseTrial, request)
        self.gang_forming = response.gang_forming
        self.work_pending = response.work_pending or response.gang_forming
        if not response.HasField("suggestion"):
            return None
        return Trial(self, response)

    def trials(self, max_trials=None):
        """Yields leased trials until the experiment is done (no work pending) or max_trials
        were run. Each trial must be finished before the next is leased: use it as a context
        manager, or call complete(), fail() or release()."""
        count = 0
        while max_trials is None or count < max_trials:
            trial = self.lease()
            if trial is None:
                if not self.work_pending:
                    return
                # A gang still gathering its ranks is asked again soon (asking keeps the place).
                time.sleep(min(self.idle_poll, 0.5) if self.gang_forming else self.idle_poll)
                continue
            count += 1
            yield trial
            if not trial.finished:
                raise errors.FailedPreconditionError(
                    f"trial {trial.id} was not completed, failed or released")

    def run(self, objective, max_trials=None):
        """Runs objective(trial) for each leased trial until the experiment is done. The
        objective returns {metric: value} (or a number, for an experiment with one metric); an
        exception fails the trial with its message and the worker goes on; an interrupt gives
        the trial back and stops. Returns counts: {"completed", "pruned", "failed"}."""
        stats = {"completed": 0, "pruned": 0, "failed": 0}
        for trial in self.trials(max_trials):
            with trial:
                try:
                    result = objective(trial)
                except TrialPruned:
                    result = None
                except (KeyboardInterrupt, SystemExit):
                    raise
                except Exception as error:  # the trial fails; the worker goes on
                    _log.exception("trial %d failed", trial.id)
                    trial.fail(f"{type(error).__name__}: {error}")
                    stats["failed"] += 1
                    continue
                if result is not None and not isinstance(result, dict):
                    metrics = [m.name for m in trial.experiment.metrics]
                    if len(metrics) != 1:
                        trial.fail("the objective returned a number for an experiment with "
                                   f"{len(metrics)} metrics; return a dict")
                        stats["failed"] += 1
                        continue
                    result = {metrics[0]: result}
                try:
                    trial.complete(result)
                except errors.InvalidArgumentError as error:
                    # The result does not fit the experiment (an unknown metric): running the
                    # trial again would give the same, so it fails with the server's reason.
                    trial.fail(f"the server refused the trial's result: {error.details}")
                    stats["failed"] += 1
                    continue
                stats["pruned" if trial.pruned else "completed"] += 1
        return stats
