"""hpo-server driven through the worker API (TrialService) from Python.

* :func:`ensure_stubs` generates the Python gRPC stubs (protoc + Debian's grpc_python_plugin) once
  per benchmark into ``$PRUNEBENCH_STUBS`` (inherited by the worker processes).
* :class:`HpoServer` runs ``hpo-server --db <tmp>/hpo.db --listen 127.0.0.1:0 --port_file ...`` (one per
  benchmark process; SIGTERM to the server if that process dies).
* :class:`HpoTrialDriver` is one experiment = one benchmark run: the curve family's space, one maximized
  metric, ``training.max_steps`` = family steps, the pruner under test, ``optimizer.algorithm``; then,
  per trial, exactly what hpo-worker does: LeaseTrial -> ReportProgress (bidirectional stream, one
  checkpoint per step, answered continue/stop) -> CompleteTrial.  ``queue()`` puts a given assignment in
  front (QueueSuggestion) so the same configurations can be replayed on both sides.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import queue
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any, Dict, Mapping, Optional, Tuple

from hpobench.space import SearchSpace

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
RPC_TIMEOUT_S = 300.0


def ensure_stubs() -> str:
    out = os.environ.get("PRUNEBENCH_STUBS")
    if not out or not os.path.exists(os.path.join(out, "hpo", "v1", "trial_service_pb2_grpc.py")):
        out = out or tempfile.mkdtemp(prefix="prunebench-stubs-")
        proto_root = os.path.join(SOURCE_DIR, "proto")
        protos = sorted(os.path.join("hpo/v1", f) for f in os.listdir(os.path.join(proto_root, "hpo/v1"))
                        if f.endswith(".proto"))
        os.makedirs(out, exist_ok=True)
        subprocess.run(["protoc", "-I", proto_root, "--python_out", out, "--grpc_out", out,
                        "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin"] + protos, check=True)
        os.environ["PRUNEBENCH_STUBS"] = out
    if out not in sys.path:
        sys.path.insert(0, out)
    return out


def pb():
    ensure_stubs()
    from hpo.v1 import (experiment_pb2, experiment_service_pb2, experiment_service_pb2_grpc,  # noqa: F401
                        search_space_pb2, trial_service_pb2, trial_service_pb2_grpc)
    import hpo.v1 as m
    return m


def find_server_bin(explicit: Optional[str] = None) -> str:
    cand = explicit or os.environ.get("HPO_SERVER_BIN")
    if cand:
        if not os.access(cand, os.X_OK):
            raise FileNotFoundError(f"hpo-server binary {cand!r} is not executable")
        return os.path.abspath(cand)
    found = []
    for d in os.listdir(SOURCE_DIR):
        p = os.path.join(SOURCE_DIR, d, "bin", "hpo-server")
        if d.startswith("build") and os.access(p, os.X_OK):
            found.append((os.path.getmtime(p), p))
    if not found:
        raise FileNotFoundError("no hpo-server: build it (cmake --build BUILD --target hpo_server), pass --server")
    return max(found)[1]


def _pdeathsig():
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class HpoServer:
    def __init__(self, server_bin: str, workdir: Optional[str] = None, extra_args: Tuple[str, ...] = ()):
        self.server_bin = server_bin
        self.extra_args = tuple(extra_args)
        self.workdir = workdir or tempfile.mkdtemp(prefix="prunebench-server-")
        os.makedirs(self.workdir, exist_ok=True)
        self.proc: Optional[subprocess.Popen] = None
        self.address = ""
        self._channel = None
        self.exp = self.trials = None

    def start(self, timeout: float = 60.0) -> "HpoServer":
        port_file = os.path.join(self.workdir, "port")
        log = open(os.path.join(self.workdir, "server.log"), "ab")
        self.proc = subprocess.Popen(
            [self.server_bin, "--db", os.path.join(self.workdir, "hpo.db"), "--listen", "127.0.0.1:0",
             "--port_file", port_file, "--log_level", "warning", *self.extra_args],
            stdout=log, stderr=log, preexec_fn=_pdeathsig)
        deadline = time.monotonic() + timeout
        text = ""
        while not text:
            if os.path.exists(port_file):
                with open(port_file) as fh:
                    text = fh.read().strip()
                if text:
                    break
            if self.proc.poll() is not None:
                raise RuntimeError(f"hpo-server exited with {self.proc.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("hpo-server did not start: " + self.log_tail())
            time.sleep(0.05)
        self.address = f"127.0.0.1:{int(text)}"
        import grpc
        m = pb()
        self._channel = grpc.insecure_channel(self.address)
        grpc.channel_ready_future(self._channel).result(timeout=30)
        self.exp = m.experiment_service_pb2_grpc.ExperimentServiceStub(self._channel)
        self.trials = m.trial_service_pb2_grpc.TrialServiceStub(self._channel)
        return self

    def log_tail(self, n: int = 4000) -> str:
        try:
            with open(os.path.join(self.workdir, "server.log"), "rb") as fh:
                return fh.read().decode(errors="replace")[-n:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_SERVER: Optional[HpoServer] = None
_SERVER_PID: Optional[int] = None


def shared_server(server_bin: Optional[str] = None) -> HpoServer:
    """One server per process (forked pool workers start their own), stopped at exit."""
    global _SERVER, _SERVER_PID
    if _SERVER is not None and _SERVER_PID == os.getpid() and _SERVER.alive():
        return _SERVER
    base = os.environ.get("PRUNEBENCH_WORKDIR") or tempfile.mkdtemp(prefix="prunebench-")
    _SERVER = HpoServer(find_server_bin(server_bin),
                        os.path.join(base, f"server-{os.getpid()}-{uuid.uuid4().hex[:6]}")).start()
    _SERVER_PID = os.getpid()
    atexit.register(_SERVER.stop)
    return _SERVER


def pruner_config(name: str, max_steps: int):
    """Our PrunerConfig for a benchmark pruner name (Optuna 3.1's defaults mapped; None = no pruner)."""
    m = pb()
    pc = m.experiment_pb2.PrunerConfig()
    if name == "none":
        return None
    if name == "median":
        pc.median.SetInParent()
    elif name == "percentile25":
        pc.percentile.percentile = 25.0
    elif name == "asha":
        pc.successive_halving.SetInParent()
    elif name == "hyperband":
        pc.hyperband.min_resource = 1
        pc.hyperband.max_resource = max_steps
        pc.hyperband.reduction_factor = 3
    else:
        raise KeyError(f"unknown pruner {name!r}")
    return pc


def to_experiment(space: SearchSpace, *, metric: str, direction: str, name: str, algorithm: str, seed: int,
                  n_trials: int, pruner: str, max_steps: int, eval_every: int = 1):
    m = pb()
    e_pb, ss = m.experiment_pb2, m.search_space_pb2
    e = e_pb.Experiment(name=name, project="bench-pruning", observation_budget=int(n_trials),
                        parallel_bandwidth=1, metadata={"source": "tests/bench/pruning"})
    for p in space:
        q = e.search_space.parameters.add(name=p.name)
        if p.type == "categorical":
            q.type = ss.PARAMETER_TYPE_CATEGORICAL
            q.categorical_values.extend(str(v) for v in p.choices)
            continue
        q.type = ss.PARAMETER_TYPE_DOUBLE if p.type == "double" else ss.PARAMETER_TYPE_INT
        q.bounds.min, q.bounds.max = float(p.low), float(p.high)
        if p.log:
            q.transformation = ss.TRANSFORMATION_LOG
    e.metrics.add(name=metric, strategy=e_pb.METRIC_STRATEGY_OPTIMIZE,
                  objective=e_pb.OBJECTIVE_MAXIMIZE if direction == "maximize" else e_pb.OBJECTIVE_MINIMIZE)
    e.optimizer.algorithm = algorithm
    e.optimizer.seed = int(seed)
    pc = pruner_config(pruner, max_steps)
    if pc is not None:
        e.pruner.CopyFrom(pc)
    e.training.max_steps = int(max_steps)
    e.training.eval_every_steps = int(eval_every)
    return e


def decode_assignment(space: Optional[SearchSpace], assignment) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for k, v in assignment.values.items():
        kind = v.WhichOneof("kind")
        out[k] = (float(v.number_value) if kind == "number_value" else int(v.int_value) if kind == "int_value"
                  else v.string_value)
    for p in space or ():
        if p.name in out and p.type == "int":
            out[p.name] = int(round(out[p.name]))
        elif p.name in out and p.type == "double":
            out[p.name] = float(out[p.name])
    return out


def encode_assignment(space: SearchSpace, params: Mapping[str, Any]):
    a = pb().search_space_pb2.Assignment()
    for k, v in params.items():
        t = space[k].type
        if t == "categorical":
            a.values[k].string_value = str(v)
        elif t == "int":
            a.values[k].int_value = int(v)
        else:
            a.values[k].number_value = float(v)
    return a


class HpoTrialDriver:
    """One experiment on a (shared) server, trials run through the TrialService like hpo-worker does."""

    def __init__(self, space: Optional[SearchSpace], *, metric: str, direction: str = "maximize",
                 algorithm: str = "", seed: int = 0, n_trials: int = 0, pruner: str = "none", max_steps: int = 0,
                 server: Optional[HpoServer] = None, run_name: str = "run", experiment=None):
        """``experiment``: an experiment already created on ``server`` (its spec arguments are then unused)."""
        self.m = pb()
        self.space, self.metric = space, metric
        self.server = server or shared_server()
        if experiment is not None:
            self.experiment = experiment
        else:
            exp = to_experiment(space, metric=metric, direction=direction, name=f"{run_name}-{uuid.uuid4().hex[:8]}",
                                algorithm=algorithm, seed=seed or 1, n_trials=n_trials, pruner=pruner,
                                max_steps=max_steps)
            es = self.m.experiment_service_pb2
            self.experiment = self.server.exp.CreateExperiment(es.CreateExperimentRequest(experiment=exp),
                                                               timeout=RPC_TIMEOUT_S).experiment
        ts = self.m.trial_service_pb2
        self.worker_id = self.server.trials.RegisterWorker(ts.RegisterWorkerRequest(
            worker=ts.WorkerInfo(name=f"prunebench-{os.getpid()}", host="localhost", threads=1)),
            timeout=RPC_TIMEOUT_S).worker_id
        self.lease_wait_s = 0.0
        self.stop_reasons: Dict[str, int] = {}

    def queue(self, params: Mapping[str, Any]) -> None:
        es = self.m.experiment_service_pb2
        self.server.exp.QueueSuggestion(es.QueueSuggestionRequest(
            experiment_id=self.experiment.id, assignment=encode_assignment(self.space, params)),
            timeout=RPC_TIMEOUT_S)

    def lease(self) -> Tuple[int, Dict[str, Any]]:
        ts = self.m.trial_service_pb2
        t0 = time.perf_counter()
        delay = 0.002
        while True:
            r = self.server.trials.LeaseTrial(ts.LeaseTrialRequest(worker_id=self.worker_id,
                                                                   experiment_id=self.experiment.id),
                                              timeout=RPC_TIMEOUT_S)
            if r.HasField("suggestion"):
                self.lease_wait_s += time.perf_counter() - t0
                return r.suggestion.id, decode_assignment(self.space, r.suggestion.assignment)
            if time.perf_counter() - t0 > RPC_TIMEOUT_S:
                raise RuntimeError("LeaseTrial: no suggestion")
            time.sleep(delay)  # no work now: back off like hpo-worker does
            delay = min(0.05, delay * 2)

    def train(self, suggestion_id: int, values, steps=None, last_step: int = 0) -> Tuple[int, bool]:
        """Stream one checkpoint per step (value ``values[step-1]``; or at ``steps[i]`` with ``values[i]``)
        until told to stop or the end (a stop at a step below ``last_step``, default the last one, is early).
        Returns (last step reported, stopped early?)."""
        steps = list(steps) if steps is not None else list(range(1, len(values) + 1))
        last_step = last_step or (steps[-1] if steps else 0)
        ts, e_pb = self.m.trial_service_pb2, self.m.experiment_pb2
        q: "queue.Queue" = queue.Queue()
        responses = self.server.trials.ReportProgress(iter(q.get, None), timeout=RPC_TIMEOUT_S)
        t0 = time.perf_counter()
        used, stopped = 0, False
        try:
            for step, v in zip(steps, values):
                cp = e_pb.Checkpoint(step=step, elapsed_seconds=time.perf_counter() - t0)
                cp.metrics.add(name=self.metric, value=float(v))
                q.put(ts.ProgressReport(worker_id=self.worker_id, suggestion_id=suggestion_id, checkpoint=cp))
                d = next(responses)
                used = step
                if d.decision == ts.DECISION_STOP:
                    rule = (d.reason.split(":", 1)[0] or "?") if d.reason else "?"
                    self.stop_reasons[rule] = self.stop_reasons.get(rule, 0) + 1
                    stopped = step < last_step
                    break
        finally:
            q.put(None)
            for _ in responses:  # drain until the server closes the stream
                pass
        return used, stopped

    def complete(self, suggestion_id: int, value: Optional[float], failure_reason: str = "") -> None:
        """``value`` None: the trial failed (``failure_reason``)."""
        ts = self.m.trial_service_pb2
        req = ts.CompleteTrialRequest(worker_id=self.worker_id, suggestion_id=suggestion_id)
        if value is None:
            req.failed, req.failure_reason = True, failure_reason
        else:
            req.values.add(name=self.metric, value=float(value))
        self.server.trials.CompleteTrial(req, timeout=RPC_TIMEOUT_S)
