#!/usr/bin/env python3
"""Control-plane load: thousands of simulated hpo-workers against one real hpo-server on loopback.

Each simulated worker does what hpo-worker does, at realistic rates, without training: register,
lease a trial, open the progress stream and send a checkpoint every --checkpoint_every seconds,
heartbeat every --heartbeat_every seconds, complete the trial after --checkpoints checkpoints,
lease the next. Workers start spread over --ramp seconds. Reports the sustained worker count
(workers holding a lease at the end), calls per second, p50/p99 latency per RPC, errors, and the
server's CPU use (from /proc). All workers run as asyncio tasks in this one process (grpc.aio).

  /usr/bin/python3 control_plane.py --server-bin build/bin/hpo-server --source-dir . \
      --workers 2000 --seconds 60
"""
import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def percentile(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(args, address, experiment_id, first=0):
    import grpc
    from hpo.v1 import experiment_pb2, trial_service_pb2, trial_service_pb2_grpc

    latencies = {}
    errors = {}
    holding = set()
    completed = [0]
    stop_at = time.monotonic() + args.ramp + args.seconds

    def record(name, seconds):
        latencies.setdefault(name, []).append(seconds)

    async def timed(name, coro):
        start = time.monotonic()
        try:
            result = await coro
        except grpc.aio.AioRpcError as e:
            errors[(name, e.code().name)] = errors.get((name, e.code().name), 0) + 1
            raise
        record(name, time.monotonic() - start)
        return result

    # A few channels shared by all workers, as many nodes would share the server's threads.
    channels = [grpc.aio.insecure_channel(address) for _ in range(args.channels)]

    async def worker(index):
        rng = random.Random(index)
        await asyncio.sleep(rng.uniform(0, args.ramp))
        stub = trial_service_pb2_grpc.TrialServiceStub(channels[index % len(channels)])
        try:
            reg = await timed("RegisterWorker", stub.RegisterWorker(
                trial_service_pb2.RegisterWorkerRequest(worker=trial_service_pb2.WorkerInfo(
                    name="sim-%d" % index, host="node-%d" % (index // 8), threads=1)),
                timeout=60))
        except grpc.aio.AioRpcError:
            return
        wid = reg.worker_id
        while time.monotonic() < stop_at:
            try:
                lease = await timed("LeaseTrial", stub.LeaseTrial(
                    trial_service_pb2.LeaseTrialRequest(worker_id=wid, experiment_id=experiment_id),
                    timeout=60))
            except grpc.aio.AioRpcError:
                await asyncio.sleep(1)
                continue
            if not lease.HasField("suggestion"):
                await asyncio.sleep(2)
                continue
            sid = lease.suggestion.id
            holding.add(index)
            stream = stub.ReportProgress(timeout=3600)
            last_heartbeat = time.monotonic()
            try:
                for step in range(1, args.checkpoints + 1):
                    await asyncio.sleep(args.checkpoint_every * rng.uniform(0.8, 1.2))
                    if time.monotonic() >= stop_at:
                        break
                    if time.monotonic() - last_heartbeat >= args.heartbeat_every:
                        await timed("Heartbeat", stub.Heartbeat(trial_service_pb2.HeartbeatRequest(
                            worker_id=wid, suggestion_id=sid), timeout=60))
                        last_heartbeat = time.monotonic()
                    report = trial_service_pb2.ProgressReport(worker_id=wid, suggestion_id=sid)
                    report.checkpoint.step = step * 100
                    report.checkpoint.elapsed_seconds = step * args.checkpoint_every
                    m = report.checkpoint.metrics.add()
                    m.name, m.value = "auc", 0.7 + 0.1 * (1 - 1.0 / step) + rng.gauss(0, 0.005)
                    start = time.monotonic()
                    await stream.write(report)
                    decision = await stream.read()
                    record("ReportProgress", time.monotonic() - start)
                    if decision.decision == trial_service_pb2.DECISION_STOP:
                        break
                await stream.done_writing()
                if time.monotonic() >= stop_at:
                    break
                done = trial_service_pb2.CompleteTrialRequest(worker_id=wid, suggestion_id=sid)
                v = done.values.add()
                v.name, v.value = "auc", 0.78 + rng.gauss(0, 0.01)
                await timed("CompleteTrial", stub.CompleteTrial(done, timeout=60))
                completed[0] += 1
            except grpc.aio.AioRpcError as e:
                errors[("ReportProgress", e.code().name)] = errors.get(
                    ("ReportProgress", e.code().name), 0) + 1
            finally:
                holding.discard(index)
                stream.cancel()

    sustained = []

    async def sample():
        while time.monotonic() < stop_at:
            await asyncio.sleep(1)
            sustained.append(len(holding))

    await asyncio.gather(sample(), *(worker(first + i) for i in range(args.workers)))
    for ch in channels:
        await ch.close()
    return latencies, errors, sustained, completed[0]


def stop_noise(noise):
    """Stops the --disk_noise writer (its whole process group: the loop and its dd)."""
    if noise is not None and noise.poll() is None:
        os.killpg(noise.pid, signal.SIGKILL)
        noise.wait()


def measure(args, server_args):
    """One run against a fresh hpo-server started with `server_args`; returns the result dict."""
    sys.path.insert(0, os.path.join(args.source_dir, "tests/integration"))
    from harness import Server, generate_stubs
    tmp = tempfile.mkdtemp(prefix="hpo-control-plane-", dir=args.db_dir)
    noise = None
    try:
        generate_stubs(args.source_dir, os.path.join(tmp, "stubs"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536)) if resource.getrlimit(
            resource.RLIMIT_NOFILE)[1] >= 65536 else None
        server = Server(args.server_bin, os.path.join(tmp, "hpo.db"), tmp,
                        extra_args=["--http_listen", "", "--lease_timeout_seconds", "120",
                                    "--log_level", "warning"] + list(server_args))
        server.start()
        import grpc
        from hpo.v1 import experiment_pb2, experiment_service_pb2, experiment_service_pb2_grpc
        from hpo.v1 import search_space_pb2
        e = experiment_pb2.Experiment(name="control-plane", observation_budget=1000000,
                                      parallel_bandwidth=args.workers)
        p = e.search_space.parameters.add(name="lr", type=search_space_pb2.PARAMETER_TYPE_DOUBLE)
        p.bounds.min, p.bounds.max = 1e-4, 1.0
        e.metrics.add(name="auc")
        e.optimizer.algorithm = "random"
        e.pruner.median.startup_trials = 5
        e.training.max_steps = args.checkpoints * 100
        with grpc.insecure_channel(server.address) as ch:
            created = experiment_service_pb2_grpc.ExperimentServiceStub(ch).CreateExperiment(
                experiment_service_pb2.CreateExperimentRequest(experiment=e), timeout=30)
        if args.disk_noise:
            noise = subprocess.Popen(
                ["bash", "-c", 'while :; do dd if=/dev/zero of="$0/noise" bs=1M count=256 '
                               'conv=fdatasync status=none; done', tmp],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        cpu0, wall0 = cpu_seconds(server.proc.pid), time.monotonic()
        children = []
        per = [args.workers // args.processes + (1 if i < args.workers % args.processes else 0)
               for i in range(args.processes)]
        first = 0
        for n in per:
            cmd = [sys.executable, os.path.abspath(__file__), "--server-bin", args.server_bin,
                   "--source-dir", args.source_dir, "--workers", str(n),
                   "--seconds", str(args.seconds), "--ramp", str(args.ramp),
                   "--checkpoint_every", str(args.checkpoint_every),
                   "--heartbeat_every", str(args.heartbeat_every),
                   "--checkpoints", str(args.checkpoints),
                   "--channels", str(max(1, args.channels // args.processes)),
                   "--child", server.address, str(created.experiment.id), str(first)]
            children.append(subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                             env=dict(os.environ, HPO_STUBS=os.path.join(tmp, "stubs"))))
            first += n
        outputs = [json.loads(c.communicate()[0]) for c in children]
        server_cpu = (cpu_seconds(server.proc.pid) - cpu0) / (time.monotonic() - wall0)
        stop_noise(noise)
        server.terminate()
        latencies, errors, completed = {}, {}, 0
        for out in outputs:
            for name, values in out["latencies"].items():
                latencies.setdefault(name, []).extend(values)
            for name, code, count in out["errors"]:
                errors[(name, code)] = errors.get((name, code), 0) + count
            completed += out["completed"]
        length = min(len(o["sustained"]) for o in outputs)
        sustained = [sum(o["sustained"][i] for o in outputs) for i in range(length)]
        client_cpu = sum(o["cpu"] for o in outputs)
    finally:
        stop_noise(noise)
        shutil.rmtree(tmp, ignore_errors=True)

    measured = sustained[int(args.ramp):] or sustained
    result = {
        "workers": args.workers, "seconds": args.seconds,
        "sustained_workers_median": statistics.median(measured) if measured else 0,
        "sustained_workers_min": min(measured) if measured else 0,
        "completed_trials": completed,
        "server_cpu_cores": round(server_cpu, 3),
        "client_cpu_seconds": round(client_cpu, 1),
        "errors": {"%s:%s" % k: v for k, v in errors.items()},
        "rpcs": {name: {"count": len(v), "per_second": round(len(v) / (args.ramp + args.seconds), 1),
                        "p50_ms": round(percentile(v, 50) * 1e3, 2),
                        "p99_ms": round(percentile(v, 99) * 1e3, 2)}
                 for name, v in sorted(latencies.items())},
    }
    result["server_args"] = list(server_args)
    return result


def median_result(results):
    """The per-field median of repeated runs of one configuration."""
    if len(results) == 1:
        return results[0]
    med = dict(results[0])
    for key in ("sustained_workers_median", "sustained_workers_min", "completed_trials",
                "server_cpu_cores", "client_cpu_seconds"):
        med[key] = statistics.median(r[key] for r in results)
    med["errors"] = {}
    for r in results:
        for k, v in r["errors"].items():
            med["errors"][k] = med["errors"].get(k, 0) + v
    med["rpcs"] = {}
    for name in results[0]["rpcs"]:
        rows = [r["rpcs"][name] for r in results if name in r["rpcs"]]
        med["rpcs"][name] = {k: statistics.median(row[k] for row in rows) for k in rows[0]}
    return med


def report(args, result):
    print("control plane: %d simulated workers, %.0f s measured, server %s" % (
        args.workers, args.seconds, " ".join(result["server_args"]) or "(defaults)"))
    print("  sustained workers holding a lease: median %s, min %s" % (
        result["sustained_workers_median"], result["sustained_workers_min"]))
    print("  trials completed: %d; hpo-server CPU: %.2f cores (clients: %.0f CPU s); errors: %s" % (
        result["completed_trials"], result["server_cpu_cores"], result["client_cpu_seconds"],
        result["errors"] or "none"))
    print("  %-16s %8s %8s %9s %9s" % ("rpc", "count", "per s", "p50 ms", "p99 ms"))
    for name, r in result["rpcs"].items():
        print("  %-16s %8d %8.1f %9.2f %9.2f" % (name, r["count"], r["per_second"], r["p50_ms"],
                                                r["p99_ms"]))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--workers", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=60, help="measured time after the ramp")
    ap.add_argument("--ramp", type=float, default=20)
    ap.add_argument("--checkpoint_every", type=float, default=10.0)
    ap.add_argument("--heartbeat_every", type=float, default=30.0)
    ap.add_argument("--checkpoints", type=int, default=12)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--processes", type=int, default=2,
                    help="client processes sharing the workers (one asyncio loop each)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--server_args", default="", help="extra hpo-server flags, one string")
    ap.add_argument("--baseline_args", default=None,
                    help="first run a baseline server with these flags (e.g. --group_commit=false) "
                         "and print this run's latencies as ratios against it")
    ap.add_argument("--db_dir", default=None,
                    help="directory for the database (default: the system temp dir)")
    ap.add_argument("--disk_noise", action="store_true",
                    help="a noisy neighbour on the database's disk: a process that writes and "
                         "fdatasyncs 256 MiB files in a loop while the workers run")
    ap.add_argument("--repeats", type=int, default=1,
                    help="runs of each configuration, interleaved; medians are reported")
    ap.add_argument("--child", nargs=3, metavar=("ADDRESS", "EXPERIMENT", "FIRST"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        sys.path.insert(0, os.environ["HPO_STUBS"])
        address, experiment_id, first = args.child[0], int(args.child[1]), int(args.child[2])
        latencies, errors, sustained, completed = asyncio.run(
            run(args, address, experiment_id, first))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        json.dump({"latencies": latencies, "errors": [[k[0], k[1], v] for k, v in errors.items()],
                   "sustained": sustained, "completed": completed,
                   "cpu": usage.ru_utime + usage.ru_stime}, sys.stdout)
        return 0

    configs = ([args.baseline_args.split()] if args.baseline_args is not None else []) + [
        args.server_args.split()]
    results = [[] for _ in configs]
    for _ in range(args.repeats):  # interleaved, so slow phases of the machine hit both
        for i, server_args in enumerate(configs):
            results[i].append(measure(args, server_args))
            report(args, results[i][-1])
    runs = [median_result(r) for r in results]
    if args.repeats > 1:
        for median in runs:
            print("median of %d runs:" % args.repeats)
            report(args, median)
    if len(runs) == 2:
        base, new = runs[0]["rpcs"], runs[1]["rpcs"]
        print("  ratio baseline / this run (p50, p99; > 1: faster now):")
        for name in sorted(set(base) & set(new)):
            print("  %-16s %8.2fx %8.2fx" % (
                name, base[name]["p50_ms"] / max(new[name]["p50_ms"], 1e-3),
                base[name]["p99_ms"] / max(new[name]["p99_ms"], 1e-3)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs if len(runs) > 1 else runs[0], f, indent=2)
    return 0 if not any(r["errors"] for r in runs) else 1

if __name__ == "__main__":
    sys.exit(main())
