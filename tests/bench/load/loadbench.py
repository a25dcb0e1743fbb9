#!/usr/bin/python3
"""Load benchmark: hpo-server vs Optuna 3.1 RDB storage on SQLite, ask/tell loops in N processes.

hpo side: one real hpo-server (loopback gRPC, SQLite file in --workdir); N client processes each
loop CreateSuggestion -> CreateObservation with the `random` optimizer, so what is measured is the
service's storage and control path, not a model fit. --hpo-mode own (default): one experiment per
client process, the way independent tuning jobs share one hpo-server; shared: all processes on one
experiment with parallel_bandwidth 2N (the many-workers-one-study setup; every observation then
invalidates the experiment's precomputed proposals).
Optuna side: N processes doing study.ask() / study.tell() with RandomSampler on one shared study in
RDBStorage("sqlite:///<workdir>/optuna.db") (Optuna's distributed setup), the same search space.

Both sides: the same objective (Branin plus small int/categorical terms), the same wall-clock window
(--duration seconds after every process is ready), files on the same filesystem with each system's
default durability (hpo: WAL + synchronous=FULL; Optuna/SQLAlchemy: SQLite defaults, rollback
journal + synchronous=FULL). Reported: completed trials (observations / tells) per second,
suggestions (asks) per second, p50/p99 latency per call, errors by kind.

Usage: loadbench.py --server PATH/hpo-server --source-dir REPO [--clients 64] [--duration 30]
       [--repeats 1] [--sides hpo,optuna] [--hpo-mode own|shared] [--workdir DIR]
       [--out-json FILE] [--out-md FILE] [--check]
--check: exit 1 unless both sides completed trials and hpo had no errors (the smoke test).
"""
import argparse
import collections
import json
import math
import multiprocessing as mp
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

SPACE = {"x1": (-5.0, 10.0), "x2": (0.0, 15.0), "n": (1, 64), "kind": ("a", "b", "c")}


def objective(x1, x2, n, kind):
    """Branin plus small int and categorical terms: cheap, so the systems are what is timed."""
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    branin = (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10
    return branin + 0.001 * n + {"a": 0.0, "b": 0.1, "c": 0.2}[kind]


def percentile(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def generate_stubs(source_dir, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    protos = sorted(os.path.join("hpo/v1", f) for f in os.listdir(os.path.join(source_dir, "proto/hpo/v1"))
                    if f.endswith(".proto"))
    subprocess.run(["protoc", "-I", os.path.join(source_dir, "proto"), "--python_out", out_dir,
                    "--grpc_out", out_dir, "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin"]
                   + protos, check=True)


# ---------------------------------------------------------------- client processes

def _new_result():
    return {"asks": 0, "tells": 0, "lat_ask_ms": [], "lat_tell_ms": [], "errors": {},
            "error_samples": [], "last_end": 0.0}


def _error(result, kind, message):
    result["errors"][kind] = result["errors"].get(kind, 0) + 1
    if len(result["error_samples"]) < 3:
        result["error_samples"].append("%s: %s" % (kind, " | ".join(
            line.strip() for line in message.splitlines()[:2])[:300]))


def hpo_client(index, address, experiment_id, ready, go, out):
    import grpc
    from hpo.v1 import experiment_pb2, experiment_service_pb2 as s, experiment_service_pb2_grpc as sg
    result = _new_result()
    channel = grpc.insecure_channel(address)
    stub = sg.ExperimentServiceStub(channel)
    stub.GetExperiment(s.GetExperimentRequest(experiment_id=experiment_id), timeout=60,
                       wait_for_ready=True)  # connected
    ready.release()
    go.wait()
    deadline = go.start + go.duration
    clock = time.perf_counter
    while time.time() < deadline:
        t0 = clock()
        try:
            sug = stub.CreateSuggestion(s.CreateSuggestionRequest(experiment_id=experiment_id),
                                        timeout=60).suggestion
        except grpc.RpcError as e:
            _error(result, "CreateSuggestion " + e.code().name, e.details() or "")
            continue
        t1 = clock()
        result["asks"] += 1
        result["lat_ask_ms"].append((t1 - t0) * 1e3)
        a = sug.assignment.values
        value = objective(a["x1"].number_value, a["x2"].number_value, a["n"].int_value,
                          a["kind"].string_value)
        request = s.CreateObservationRequest(experiment_id=experiment_id, suggestion_id=sug.id,
                                             values=[experiment_pb2.MetricValue(name="y", value=value)])
        t1 = clock()
        try:
            stub.CreateObservation(request, timeout=60)
        except grpc.RpcError as e:
            _error(result, "CreateObservation " + e.code().name, e.details() or "")
            continue
        t2 = clock()
        result["tells"] += 1
        result["lat_tell_ms"].append((t2 - t1) * 1e3)
        result["last_end"] = time.time()
    channel.close()
    out.put(result)


def optuna_client(index, storage_url, study_name, ready, go, out):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    dists = {"x1": FloatDistribution(*SPACE["x1"]), "x2": FloatDistribution(*SPACE["x2"]),
             "n": IntDistribution(*SPACE["n"]), "kind": CategoricalDistribution(SPACE["kind"])}
    result = _new_result()
    study = optuna.load_study(study_name=study_name, storage=storage_url,
                              sampler=optuna.samplers.RandomSampler(seed=1000 + index))
    ready.release()
    go.wait()
    deadline = go.start + go.duration
    clock = time.perf_counter

    def kind_of(e):
        # Optuna wraps SQLAlchemy's errors in StorageInternalError ("raised during the commit"):
        # name the cause, e.g. SQLite's "database is locked".
        chain, cause = [type(e).__name__], e.__cause__ or e.__context__
        while cause is not None and len(chain) < 4:
            chain.append(type(cause).__name__)
            if "database is locked" in str(cause):
                return "%s (database is locked)" % type(e).__name__
            cause = cause.__cause__ or cause.__context__
        if "database is locked" in str(e):
            return "database is locked"
        return " <- ".join(chain)

    while time.time() < deadline:
        t0 = clock()
        try:
            trial = study.ask(fixed_distributions=dists)
        except Exception as e:  # noqa: BLE001 - counted
            _error(result, "ask: " + kind_of(e), "%s (cause: %s)" % (e, e.__cause__))
            continue
        t1 = clock()
        result["asks"] += 1
        result["lat_ask_ms"].append((t1 - t0) * 1e3)
        p = trial.params
        value = objective(p["x1"], p["x2"], p["n"], p["kind"])
        t1 = clock()
        try:
            study.tell(trial, value)
        except Exception as e:  # noqa: BLE001 - counted
            _error(result, "tell: " + kind_of(e), "%s (cause: %s)" % (e, e.__cause__))
            continue
        t2 = clock()
        result["tells"] += 1
        result["lat_tell_ms"].append((t2 - t1) * 1e3)
        result["last_end"] = time.time()
    out.put(result)


class Go:
    """Start signal shared with the clients: an Event plus the start time and window length."""

    def __init__(self, ctx, duration):
        self.event = ctx.Event()
        self.shared = ctx.Array("d", [0.0, float(duration)])

    def wait(self):
        self.event.wait()

    def set(self, start):
        self.shared[0] = start
        self.event.set()

    @property
    def start(self):
        return self.shared[0]

    @property
    def duration(self):
        return self.shared[1]


def run_clients(ctx, target, args_for, clients, duration, setup_timeout=300):
    """Starts `clients` processes, waits until every one is ready, opens the window, collects."""
    ready = ctx.Semaphore(0)
    go = Go(ctx, duration)
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=args_for(i) + (ready, go, out), daemon=True)
             for i in range(clients)]
    t0 = time.time()
    for p in procs:
        p.start()
    for i in range(clients):
        if not ready.acquire(timeout=max(1.0, setup_timeout - (time.time() - t0))):
            for p in procs:
                p.kill()
            raise RuntimeError("only %d of %d client processes got ready" % (i, clients))
    setup_s = time.time() - t0
    start = time.time() + 0.2
    go.set(start)
    results = []
    for _ in procs:
        results.append(out.get(timeout=duration + 300))
    for p in procs:
        p.join(timeout=60)
    return results, setup_s, start


def summarize(side, results, start, duration, setup_s, extra):
    asks = sum(r["asks"] for r in results)
    tells = sum(r["tells"] for r in results)
    end = max([r["last_end"] for r in results] + [start + duration])
    window = max(end - start, duration)
    errors = collections.Counter()
    samples = []
    for r in results:
        errors.update(r["errors"])
        samples.extend(r["error_samples"])
    lat_ask = [x for r in results for x in r["lat_ask_ms"]]
    lat_tell = [x for r in results for x in r["lat_tell_ms"]]
    summary = {
        "side": side, "clients": len(results), "window_s": round(window, 2),
        "setup_s": round(setup_s, 1),
        "completed": tells, "completed_per_s": tells / window, "asks": asks, "asks_per_s": asks / window,
        "ask_p50_ms": percentile(lat_ask, 50), "ask_p99_ms": percentile(lat_ask, 99),
        "tell_p50_ms": percentile(lat_tell, 50), "tell_p99_ms": percentile(lat_tell, 99),
        "errors": sum(errors.values()), "errors_by_kind": dict(errors), "error_samples": samples[:6],
        "min_completed_per_client": min(r["tells"] for r in results) if results else 0,
    }
    summary.update(extra)
    return summary


# ---------------------------------------------------------------- sides

def run_hpo(args, ctx, workdir):
    sys.path.insert(0, args.stubs)
    import grpc
    from hpo.v1 import (experiment_pb2 as e, experiment_service_pb2 as s,
                        experiment_service_pb2_grpc as sg, search_space_pb2 as ss)
    run_dir = tempfile.mkdtemp(prefix="hpo-", dir=workdir)
    db = os.path.join(run_dir, "hpo.db")
    port_file = os.path.join(run_dir, "port")
    log = open(os.path.join(run_dir, "server.log"), "wb")
    server = subprocess.Popen([args.server, "--db", db, "--listen", "127.0.0.1:0", "--port_file",
                               port_file, "--http_listen="], stdout=log, stderr=log)
    try:
        deadline = time.time() + 30
        while not os.path.exists(port_file):
            if server.poll() is not None or time.time() > deadline:
                raise RuntimeError("hpo-server did not start: see %s" % log.name)
            time.sleep(0.05)
        address = "127.0.0.1:" + open(port_file).read().strip()
        channel = grpc.insecure_channel(address)
        stub = sg.ExperimentServiceStub(channel)
        shared = args.hpo_mode == "shared"
        experiments = []
        for i in range(1 if shared else args.clients):
            exp = e.Experiment(name="load-%d" % i, observation_budget=1_000_000_000,
                               parallel_bandwidth=2 * args.clients if shared else 4)
            exp.search_space.parameters.add(name="x1", type=ss.PARAMETER_TYPE_DOUBLE,
                                            bounds=ss.Bounds(min=SPACE["x1"][0], max=SPACE["x1"][1]))
            exp.search_space.parameters.add(name="x2", type=ss.PARAMETER_TYPE_DOUBLE,
                                            bounds=ss.Bounds(min=SPACE["x2"][0], max=SPACE["x2"][1]))
            exp.search_space.parameters.add(name="n", type=ss.PARAMETER_TYPE_INT,
                                            bounds=ss.Bounds(min=SPACE["n"][0], max=SPACE["n"][1]))
            exp.search_space.parameters.add(name="kind", type=ss.PARAMETER_TYPE_CATEGORICAL,
                                            categorical_values=list(SPACE["kind"]))
            exp.metrics.add(name="y", objective=e.OBJECTIVE_MINIMIZE)
            exp.optimizer.algorithm = "random"
            exp.optimizer.seed = 1000 + i
            experiments.append(stub.CreateExperiment(s.CreateExperimentRequest(experiment=exp),
                                                     timeout=60).experiment.id)
        results, setup_s, start = run_clients(
            ctx, hpo_client, lambda i: (i, address, experiments[0 if shared else i]),
            args.clients, args.duration)
        # What the server stored agrees with what the clients counted.
        stored = sum(stub.GetExperiment(s.GetExperimentRequest(experiment_id=x), timeout=60)
                     .experiment.progress.observation_count for x in experiments)
        channel.close()
        rss_kb = 0
        with open("/proc/%d/status" % server.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    rss_kb = int(line.split()[1])
        return summarize("hpo", results, start, args.duration, setup_s,
                         {"mode": args.hpo_mode, "stored_observations": stored,
                          "server_peak_rss_mb": round(rss_kb / 1024, 1)})
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def run_optuna(args, ctx, workdir):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run_dir = tempfile.mkdtemp(prefix="optuna-", dir=workdir)
    url = "sqlite:///" + os.path.join(run_dir, "optuna.db")
    try:
        optuna.create_study(study_name="load", storage=url, direction="minimize",
                            sampler=optuna.samplers.RandomSampler(seed=1))
        results, setup_s, start = run_clients(ctx, optuna_client, lambda i: (i, url, "load"),
                                              args.clients, args.duration)
        study = optuna.load_study(study_name="load", storage=url)
        states = collections.Counter(t.state.name for t in study.get_trials(deepcopy=False))
        return summarize("optuna", results, start, args.duration, setup_s,
                         {"version": optuna.__version__, "stored_states": dict(states)})
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


# ---------------------------------------------------------------- report

def median_of(runs, key):
    values = [r[key] for r in runs if not (isinstance(r[key], float) and math.isnan(r[key]))]
    return statistics.median(values) if values else float("nan")


def report(args, runs, meta):
    lines = ["# Load: hpo-server vs Optuna RDB (SQLite)", "",
             "`%s` — %d client processes, %d s window per side, %d repeat(s)%s; hpo mode `%s`; "
             "machine: %s, %d cores, load average before %s." % (
                 meta["command"], args.clients, args.duration, args.repeats,
                 " (medians)" if args.repeats > 1 else " (single run)", args.hpo_mode,
                 meta["cpu"], meta["cores"], meta["loadavg"]), "",
             "| side | completed trials/s | suggestions/s | suggest p50 / p99 ms | observe p50 / p99 ms "
             "| errors |",
             "|---|---|---|---|---|---|"]
    medians = {}
    for side in ("hpo", "optuna"):
        side_runs = [r for r in runs if r["side"] == side]
        if not side_runs:
            continue
        m = {k: median_of(side_runs, k) for k in ("completed_per_s", "asks_per_s", "ask_p50_ms",
                                                  "ask_p99_ms", "tell_p50_ms", "tell_p99_ms")}
        m["errors"] = sum(r["errors"] for r in side_runs)
        kinds = collections.Counter()
        for r in side_runs:
            kinds.update(r["errors_by_kind"])
        medians[side] = m
        label = "hpo-server (`random`, %s)" % args.hpo_mode if side == "hpo" else \
            "Optuna %s RDB SQLite (RandomSampler)" % side_runs[0].get("version", "")
        lines.append("| %s | %.1f | %.1f | %.1f / %.1f | %.1f / %.1f | %d%s |" % (
            label, m["completed_per_s"], m["asks_per_s"], m["ask_p50_ms"], m["ask_p99_ms"],
            m["tell_p50_ms"], m["tell_p99_ms"], m["errors"],
            (" (" + ", ".join("%s: %d" % kv for kv in sorted(kinds.items())) + ")") if kinds else ""))
    ratio = None
    if "hpo" in medians and "optuna" in medians and medians["optuna"]["completed_per_s"] > 0:
        ratio = medians["hpo"]["completed_per_s"] / medians["optuna"]["completed_per_s"]
        met = ratio >= 10 and medians["hpo"]["errors"] == 0
        paired = []
        for rep in sorted({r["repeat"] for r in runs}):
            h = [r for r in runs if r["repeat"] == rep and r["side"] == "hpo"]
            o = [r for r in runs if r["repeat"] == rep and r["side"] == "optuna"]
            if h and o and o[0]["completed_per_s"] > 0:
                paired.append(h[0]["completed_per_s"] / o[0]["completed_per_s"])
        lines += ["", "hpo/optuna completed trials per second: **%.1fx** (ratio of the medians; target "
                  ">= 10x with zero hpo errors: %s)%s." % (
                      ratio, "met" if met else "missed",
                      "; per repeat (hpo and Optuna run back to back): " +
                      ", ".join("%.1fx" % x for x in paired) if len(paired) > 1 else "")]
    lines += ["", "Runs: " + "; ".join(
        "%s %.1f/s (%d errors%s)" % (r["side"], r["completed_per_s"], r["errors"],
                                     ", stored %s" % (r.get("stored_observations")
                                                      if r["side"] == "hpo" else r.get("stored_states")))
        for r in runs) + "."]
    return "\n".join(lines) + "\n", ratio, medians


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=False, default="")
    parser.add_argument("--source-dir", default=os.path.abspath(os.path.join(os.path.dirname(__file__),
                                                                             "../../..")))
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sides", default="hpo,optuna")
    parser.add_argument("--hpo-mode", choices=["own", "shared"], default="own")
    parser.add_argument("--workdir", default="")
    parser.add_argument("--out-json", default="")
    parser.add_argument("--out-md", default="")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--command", default="", help="command line quoted in the report")
    parser.add_argument("--from-json", default="", help="only re-render the report of a results file")
    args = parser.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            saved = json.load(f)
        for k, v in saved["args"].items():
            if k not in ("out_json", "out_md", "from_json"):
                setattr(args, k, v)
        md, _, _ = report(args, saved["runs"], saved["meta"])
        if args.out_md:
            with open(args.out_md, "w") as f:
                f.write(md)
        print(md)
        return 0
    sides = [x for x in args.sides.split(",") if x]
    workdir = tempfile.mkdtemp(prefix="hpo-loadbench-", dir=args.workdir or None)
    args.stubs = os.path.join(workdir, "stubs")
    if "hpo" in sides:
        if not args.server:
            parser.error("--server is required for the hpo side")
        generate_stubs(args.source_dir, args.stubs)
    # Client processes come from a fork server that has imported grpc, the stubs and optuna but
    # never opened a channel or a database, so 64 processes start in seconds and fork safely.
    ctx = mp.get_context("forkserver")
    preload = ["grpc"] + (["optuna"] if "optuna" in sides else [])
    if "hpo" in sides:
        sys.path.insert(0, args.stubs)
        os.environ["PYTHONPATH"] = args.stubs + os.pathsep + os.environ.get("PYTHONPATH", "")
        preload += ["hpo.v1.experiment_service_pb2_grpc"]
    ctx.set_forkserver_preload(preload)
    meta = {"command": args.command or " ".join(sys.argv), "cores": os.cpu_count(),
            "cpu": platform.processor() or _cpu_model(), "loadavg": " ".join(
                "%.2f" % x for x in os.getloadavg()), "python": sys.version.split()[0],
            "workdir_fs": _fs_type(workdir)}
    runs = []
    try:
        for rep in range(args.repeats):
            for side in sides:
                t0 = time.time()
                r = run_hpo(args, ctx, workdir) if side == "hpo" else run_optuna(args, ctx, workdir)
                r["repeat"] = rep
                runs.append(r)
                print("[%s #%d] %.1f completed/s, %.1f suggestions/s, ask p50/p99 %.1f/%.1f ms, tell "
                      "p50/p99 %.1f/%.1f ms, errors %d %s (setup %.0f s, total %.0f s)" % (
                          side, rep, r["completed_per_s"], r["asks_per_s"], r["ask_p50_ms"],
                          r["ask_p99_ms"], r["tell_p50_ms"], r["tell_p99_ms"], r["errors"],
                          r["errors_by_kind"] or "", r["setup_s"], time.time() - t0), flush=True)
                for sample in r["error_samples"]:
                    print("    e.g. " + sample, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    md, ratio, medians = report(args, runs, meta)
    print(md)
    if args.out_json:
        with open(args.out_json, "w") as f:
            json.dump({"meta": meta, "args": {k: v for k, v in vars(args).items() if k != "stubs"},
                       "runs": runs, "medians": medians, "ratio": ratio}, f, indent=1)
    if args.out_md:
        with open(args.out_md, "w") as f:
            f.write(md)
    if args.check:
        problems = []
        for side in sides:
            side_runs = [r for r in runs if r["side"] == side]
            if not side_runs or min(r["completed"] for r in side_runs) == 0:
                problems.append("%s completed no trials" % side)
        for r in runs:
            if r["side"] == "hpo":
                if r["errors"]:
                    problems.append("hpo errors: %s" % r["errors_by_kind"])
                if r["stored_observations"] != r["completed"]:
                    problems.append("hpo stored %d observations, clients counted %d" % (
                        r["stored_observations"], r["completed"]))
        if problems:
            print("check failed: " + "; ".join(problems), file=sys.stderr)
            return 1
        print("check ok: both sides completed trials, hpo without errors and every acknowledged "
              "observation stored")
    return 0


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def _fs_type(path):
    try:
        out = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True)
        return out.stdout.strip()
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
