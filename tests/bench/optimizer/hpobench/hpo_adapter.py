"""hpo-server behind the benchmark's ask/tell protocol: a real server process, gRPC, one experiment per run.

* :func:`ensure_stubs` generates the Python gRPC stubs from ``proto/hpo/v1/*.proto`` (protoc +
  Debian's ``grpc_python_plugin``) into a temporary folder once per benchmark (``HPOBENCH_STUBS``
  is inherited by the worker processes).
* :class:`HpoServer` starts ``hpo-server --db <tmp>/hpo.db --listen 127.0.0.1:0 --port_file ...``;
  :func:`shared_server` keeps one per process (each runner worker has its own server).  The server
  gets SIGTERM if the process that started it dies (PR_SET_PDEATHSIG), so no server outlives a run.
* :func:`to_experiment` translates a neutral :class:`~hpobench.space.SearchSpace` into an hpo
  ``Experiment``: double/int/categorical, log transformation, categorical parents of conditions as
  hpo ``conditionals`` with ``conditions`` on the child parameters, linear constraints, one metric
  ``f`` (or ``f1``, ``f2`` for two objectives) minimized; observation_budget, parallel_bandwidth 1,
  optimizer.algorithm and optimizer.seed.
* :class:`HpoOptimizer` loops CreateSuggestion -> (evaluate) -> CreateObservation.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .optimizers import Optimizer, Value
from .space import SearchSpace

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))  # project root
RPC_TIMEOUT_S = float(os.environ.get("HPOBENCH_RPC_TIMEOUT", "300"))


# ---------------------------------------------------------------------------------------- stubs
def generate_stubs(out_dir: str, source_dir: str = SOURCE_DIR) -> str:
    proto_root = os.path.join(source_dir, "proto")
    protos = sorted(os.path.join("hpo/v1", f) for f in os.listdir(os.path.join(proto_root, "hpo/v1"))
                    if f.endswith(".proto"))
    os.makedirs(out_dir, exist_ok=True)
    subprocess.run(["protoc", "-I", proto_root, "--python_out", out_dir, "--grpc_out", out_dir,
                    "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin"] + protos, check=True)
    return out_dir


def ensure_stubs() -> str:
    """Generate stubs once (per HPOBENCH_STUBS folder) and put them on sys.path."""
    out = os.environ.get("HPOBENCH_STUBS")
    if not out or not os.path.exists(os.path.join(out, "hpo", "v1", "experiment_service_pb2_grpc.py")):
        out = out or tempfile.mkdtemp(prefix="hpobench-stubs-")
        generate_stubs(out)
        os.environ["HPOBENCH_STUBS"] = out
    if out not in sys.path:
        sys.path.insert(0, out)
    return out


def pb():
    """The generated modules: (experiment_pb2, search_space_pb2, experiment_service_pb2, ..._grpc)."""
    ensure_stubs()
    from hpo.v1 import experiment_pb2, experiment_service_pb2, experiment_service_pb2_grpc, search_space_pb2
    return experiment_pb2, search_space_pb2, experiment_service_pb2, experiment_service_pb2_grpc


# ---------------------------------------------------------------------------------------- server
def find_server_bin(explicit: Optional[str] = None) -> str:
    """--server flag, else $HPO_SERVER_BIN, else the newest <root>/build*/bin/hpo-server."""
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
        raise FileNotFoundError("no hpo-server found: build it (cmake --build BUILD --target hpo_server) "
                                "and pass --server BUILD/bin/hpo-server")
    return max(found)[1]


def _pdeathsig():  # runs in the child before exec: SIGTERM when the parent dies
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except OSError:
        pass


class HpoServer:
    """A real hpo-server process on a fresh database file and a free loopback port."""

    def __init__(self, server_bin: str, workdir: Optional[str] = None, log_level: str = "warning"):
        self.server_bin = server_bin
        self.workdir = workdir or tempfile.mkdtemp(prefix="hpobench-server-")
        os.makedirs(self.workdir, exist_ok=True)
        self.log_level = log_level
        self.proc: Optional[subprocess.Popen] = None
        self.address: Optional[str] = None
        self._channel = None
        self._stub = None

    def start(self, timeout: float = 60.0) -> "HpoServer":
        port_file = os.path.join(self.workdir, "port")
        if os.path.exists(port_file):
            os.remove(port_file)
        self._log = open(os.path.join(self.workdir, "server.log"), "ab")
        self.proc = subprocess.Popen(
            [self.server_bin, "--db", os.path.join(self.workdir, "hpo.db"), "--listen", "127.0.0.1:0",
             "--port_file", port_file, "--log_level", self.log_level],
            stdout=self._log, stderr=self._log, preexec_fn=_pdeathsig)
        deadline = time.monotonic() + timeout
        while True:  # readiness: the port file is written once the server listens
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
        return self

    def log_tail(self, n: int = 4000) -> str:
        try:
            with open(os.path.join(self.workdir, "server.log"), "rb") as fh:
                return fh.read().decode(errors="replace")[-n:]
        except OSError:
            return ""

    def stub(self):
        if self._stub is None:
            import grpc
            _, _, _, svc_grpc = pb()
            self._channel = grpc.insecure_channel(self.address)
            grpc.channel_ready_future(self._channel).result(timeout=30)
            self._stub = svc_grpc.ExperimentServiceStub(self._channel)
        return self._stub

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = self._stub = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_SERVER: Optional[HpoServer] = None
_SERVER_PID: Optional[int] = None


def shared_server() -> HpoServer:
    """One server per process (forked workers start their own), stopped at exit."""
    global _SERVER, _SERVER_PID
    if _SERVER is not None and _SERVER_PID == os.getpid() and _SERVER.alive():
        return _SERVER
    base = os.environ.get("HPOBENCH_WORKDIR") or tempfile.mkdtemp(prefix="hpobench-")
    _SERVER = HpoServer(find_server_bin(), os.path.join(base, f"server-{os.getpid()}-{uuid.uuid4().hex[:6]}"))
    _SERVER.start()
    _SERVER_PID = os.getpid()
    atexit.register(_SERVER.stop)
    return _SERVER


def probe_algorithms(stub) -> List[str]:
    """The algorithm names the server knows, read from its error for an unknown one."""
    import grpc
    experiment_pb2, search_space_pb2, svc, _ = pb()
    e = experiment_pb2.Experiment(name=f"probe-{uuid.uuid4().hex[:8]}", observation_budget=1,
                                  parallel_bandwidth=1)
    e.search_space.parameters.add(name="x", type=search_space_pb2.PARAMETER_TYPE_DOUBLE,
                                  bounds=search_space_pb2.Bounds(min=0.0, max=1.0))
    e.metrics.add(name="f", objective=experiment_pb2.OBJECTIVE_MINIMIZE)
    e.optimizer.algorithm = "__hpobench_probe__"
    try:
        stub.CreateExperiment(svc.CreateExperimentRequest(experiment=e), timeout=30)
    except grpc.RpcError as err:
        m = re.search(r"known: ([^)]*)\)", err.details() or "")
        if m:
            return [s.strip() for s in m.group(1).split(",") if s.strip()]
        raise RuntimeError(f"cannot read the algorithm list from: {err.details()}") from err
    raise RuntimeError("the server accepted an unknown algorithm name")


# ------------------------------------------------------------------------------- translation
def to_experiment(space: SearchSpace, directions: Sequence[str], *, name: str, algorithm: str, seed: int,
                  observation_budget: int, parallel_bandwidth: int = 1, project: str = "bench",
                  metadata: Optional[Mapping[str, str]] = None):
    """Neutral space -> hpo ``Experiment`` (see the module docstring)."""
    experiment_pb2, ss, _, _ = pb()
    e = experiment_pb2.Experiment(name=name, project=project, observation_budget=int(observation_budget),
                                  parallel_bandwidth=int(parallel_bandwidth), metadata=dict(metadata or {}))
    parents = {parent for p in space for parent in p.conditions}
    for p in space:
        if p.name in parents:
            if p.type != "categorical" or p.conditions:
                raise NotImplementedError(f"{p.name}: hpo conditionals must be unconditional categoricals")
            e.search_space.conditionals.add(name=p.name, values=[str(v) for v in p.choices])
            continue
        q = e.search_space.parameters.add(name=p.name)
        if p.type == "categorical":
            q.type = ss.PARAMETER_TYPE_CATEGORICAL
            q.categorical_values.extend(str(v) for v in p.choices)
        else:
            q.type = ss.PARAMETER_TYPE_DOUBLE if p.type == "double" else ss.PARAMETER_TYPE_INT
            q.bounds.min, q.bounds.max = float(p.low), float(p.high)
            if p.log:
                q.transformation = ss.TRANSFORMATION_LOG
        for parent, allowed in p.conditions.items():
            q.conditions.add(name=parent, values=[str(v) for v in allowed])
    for c in space.linear_constraints:
        lc = e.search_space.linear_constraints.add(
            threshold=float(c.threshold),
            type=ss.CONSTRAINT_TYPE_LESS_THAN if c.type == "less_than" else ss.CONSTRAINT_TYPE_GREATER_THAN)
        for k, w in c.terms.items():
            lc.terms.add(name=k, weight=float(w))
    for mname, d in zip(metric_names(len(directions)), directions):
        e.metrics.add(name=mname, strategy=experiment_pb2.METRIC_STRATEGY_OPTIMIZE,
                      objective=(experiment_pb2.OBJECTIVE_MINIMIZE if d == "minimize"
                                 else experiment_pb2.OBJECTIVE_MAXIMIZE))
    if algorithm:
        e.optimizer.algorithm = algorithm
    e.optimizer.seed = int(seed)
    return e


def metric_names(n: int) -> List[str]:
    return ["f"] if n == 1 else [f"f{i + 1}" for i in range(n)]


def decode_assignment(space: SearchSpace, assignment) -> Dict[str, Any]:
    """hpo ``Assignment`` -> neutral dict (categorical strings mapped back to the choice objects)."""
    out: Dict[str, Any] = {}
    for k, v in assignment.values.items():
        kind = v.WhichOneof("kind")
        if kind == "number_value":
            out[k] = float(v.number_value)
        elif kind == "int_value":
            out[k] = int(v.int_value)
        else:
            s = v.string_value
            try:
                choices = space[k].choices or []
            except KeyError:
                choices = []
            out[k] = next((c for c in choices if str(c) == s), s)
    # a double parameter that came back as an int (or the reverse) is normalised to its type
    for p in space:
        if p.name in out and p.type == "int" and isinstance(out[p.name], float) and out[p.name].is_integer():
            out[p.name] = int(out[p.name])
        elif p.name in out and p.type == "double" and isinstance(out[p.name], int):
            out[p.name] = float(out[p.name])
    return out


def encode_assignment(space: SearchSpace, params: Mapping[str, Any]):
    _, ss, _, _ = pb()
    a = ss.Assignment()
    for k, v in params.items():
        t = space[k].type
        if t == "categorical":
            a.values[k].string_value = str(v)
        elif t == "int":
            a.values[k].int_value = int(v)
        else:
            a.values[k].number_value = float(v)
    return a


# ---------------------------------------------------------------------------------- optimizer
class Unsupported(Exception):
    """The server refused the experiment (INVALID_ARGUMENT): the algorithm does not take this space."""


class Exhausted(Exception):
    """The algorithm has nothing left to suggest (a finite grid): the run ends, its incumbent stays."""


class HpoOptimizer(Optimizer):
    """One hpo experiment per benchmark run; CreateSuggestion / CreateObservation over gRPC."""

    supports_multi_objective = True

    def __init__(self, space: SearchSpace, seed: int, directions=("minimize",), *, algorithm: str = "",
                 observation_budget: int = 100, server: Optional[HpoServer] = None,
                 run_name: str = "", **options: Any) -> None:
        super().__init__(space, seed, directions, **options)
        self.name = f"hpo:{algorithm}"
        self.algorithm = algorithm
        self.server = server or shared_server()
        self.stub = self.server.stub()
        _, _, self.svc, _ = pb()
        self.experiment_pb2 = pb()[0]
        exp = to_experiment(space, self.directions, name=f"{run_name or 'run'}-{uuid.uuid4().hex[:10]}",
                            algorithm=algorithm, seed=seed or 1, observation_budget=observation_budget,
                            metadata={"source": "tests/bench/optimizer"})
        import grpc
        try:
            self.experiment = self.stub.CreateExperiment(self.svc.CreateExperimentRequest(experiment=exp),
                                                         timeout=RPC_TIMEOUT_S).experiment
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.INVALID_ARGUMENT:  # e.g. an algorithm that rejects this space
                raise Unsupported(f"{algorithm}: CreateExperiment: {err.details()}") from err
            raise
        self.experiment_id = self.experiment.id
        self._pending: Dict[str, List[int]] = {}
        self.metric_names = metric_names(len(self.directions))
        self.sources: Dict[str, int] = {}

    def suggest(self) -> Dict[str, Any]:
        import grpc
        try:
            s = self.stub.CreateSuggestion(self.svc.CreateSuggestionRequest(experiment_id=self.experiment_id),
                                           timeout=RPC_TIMEOUT_S).suggestion
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.FAILED_PRECONDITION and "exhausted" in (err.details() or ""):
                raise Exhausted(err.details()) from err  # e.g. every point of a finite grid suggested
            raise
        params = decode_assignment(self.space, s.assignment)
        self._pending.setdefault(self.space.canonical_key(params), []).append(s.id)
        self.sources[s.source] = self.sources.get(s.source, 0) + 1
        return params

    def observe(self, params: Mapping[str, Any], value: Value, *, failed: bool = False) -> None:
        ids = self._pending.get(self.space.canonical_key(params))
        req = self.svc.CreateObservationRequest(experiment_id=self.experiment_id)
        if ids:
            req.suggestion_id = ids.pop(0)
        else:
            req.assignment.CopyFrom(encode_assignment(self.space, params))
        if failed or value is None:
            req.failed = True
            req.failure_reason = "infeasible or failed evaluation"
        else:
            vals = list(value) if isinstance(value, (list, tuple)) else [float(value)]
            for n, v in zip(self.metric_names, vals):
                req.values.add(name=n, value=float(v))
        self.stub.CreateObservation(req, timeout=RPC_TIMEOUT_S)

    def config(self) -> Dict[str, Any]:
        c = super().config()
        c.update({"algorithm": self.algorithm, "server_bin": self.server.server_bin,
                  "experiment_id": int(self.experiment_id), "sources": dict(self.sources)})
        return c

    @property
    def stats_extra(self) -> Dict[str, Any]:
        return {"sources": dict(self.sources)}
