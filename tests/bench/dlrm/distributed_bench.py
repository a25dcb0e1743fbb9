#!/usr/bin/env python3
"""Distributed DLRM throughput: the same model and global batch trained by 1, 2 and 4 ranks
(processes on this machine, c10d + Gloo over loopback), on tables that do not fit one rank's
memory budget, with each rank's planned table bytes and peak memory.

  /usr/bin/python3 tests/bench/dlrm/distributed_bench.py --bin build/bin [--ranks 1,2,4]
      [--rank_memory_mb 200] [--repeats 3] [--overlap off|on|both]

The `kaggle1m` tables (26 Kaggle tables capped at 1M rows, D=16: 340 MiB of FP32 weights) do
not fit a budget of --rank_memory_mb (default 200 MiB) on one rank. The bench first shows that
one rank with the budget is refused by the planner (dlrm-train exits with RESOURCE_EXHAUSTED
before training), then measures one rank without a budget (the reference) and every other rank
count with the budget (`dlrm-train --rank_memory_mb`). Each configuration runs `dlrm-train
--world_size W --rank r` for every rank under /usr/bin/time (peak RSS), --repeats times (every
configuration once per round, so they share the machine's noise); it
reports the median of rank 0's training samples/s (global batch) and its ratio to the
reference, the median peak RSS of each rank, the table bytes the planner gave each rank, and
the AUC. Large tables are placed model-parallel (--replicate_below_rows), so per-rank memory
falls as ranks are added. All ranks share this machine's cores: on 2 cores, more ranks mean
less compute per rank, so this measures memory scaling and communication overhead, not
speed-up; on a cluster each rank has its own node.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time


def command(args, world, rank, port, budget_mb, overlap):
    cmd = [os.path.join(args.bin, "dlrm-train"),
           "--config", args.config, "--data", "synthetic", "--max_steps", str(args.steps),
           "--batch_size", str(args.batch_size), "--threads", "1", "--json",
           "--replicate_below_rows", str(args.replicate_below),
           "--rank_memory_mb", str(budget_mb), "--overlap_allreduce=" + ("true" if overlap else "false")]
    if world > 1:
        cmd += ["--world_size", str(world), "--rank", str(rank), "--master_addr", "127.0.0.1",
                "--master_port", str(port), "--dist_timeout", "120"]
    return cmd


def refused(args):
    """One rank with the budget: the planner must refuse it. Returns its error line."""
    p = subprocess.run(command(args, 1, 0, 0, args.rank_memory_mb, False), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=600)
    lines = [l for l in p.stdout.splitlines() if "RESOURCE_EXHAUSTED" in l]
    if p.returncode == 0 or not lines:
        raise RuntimeError("1 rank with --rank_memory_mb %d was not refused (exit %d):\n%s" % (
            args.rank_memory_mb, p.returncode, p.stdout[-3000:]))
    return lines[-1]


def run_once(args, world, port, budget_mb, overlap):
    procs = []
    with tempfile.TemporaryDirectory() as d:
        start = time.monotonic()
        for rank in range(world):
            cmd = ["/usr/bin/time", "-f", "maxrss_kb=%M"] + command(args, world, rank, port, budget_mb, overlap)
            out = open(os.path.join(d, "rank%d.log" % rank), "w+")
            procs.append((subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT), out))
        results = []
        for p, out in procs:
            p.wait(timeout=1800)
            out.seek(0)
            text = out.read()
            if p.returncode != 0:
                raise RuntimeError("rank failed (%d):\n%s" % (p.returncode, text[-3000:]))
            summary = json.loads([l for l in text.splitlines() if l.startswith("{")][-1])
            rss = int(re.findall(r"maxrss_kb=(\d+)", text)[-1])
            results.append((summary, rss))
        wall = time.monotonic() - start
    rank0 = results[0][0]
    return {"samples_per_second": rank0["samples_per_second"], "train_seconds": rank0["train_seconds"],
            "wall_seconds": wall, "eval_auc": rank0["eval_auc"],
            "peak_rss_mib": [r / 1024 for _, r in results],
            "table_mib": [s["rank_table_bytes"] / 2**20 for s, _ in results]}


def summarize(world, budget_mb, overlap, reps):
    med = statistics.median
    return {"world_size": world, "budget_mib": budget_mb, "overlap_allreduce": overlap,
            "samples_per_second": med([r["samples_per_second"] for r in reps]),
            "samples_per_second_runs": [round(r["samples_per_second"]) for r in reps],
            "train_seconds": med([r["train_seconds"] for r in reps]),
            "wall_seconds": round(med([r["wall_seconds"] for r in reps]), 1),
            "eval_auc": reps[0]["eval_auc"],
            "peak_rss_mib": [round(med([r["peak_rss_mib"][k] for r in reps])) for k in range(world)],
            "table_mib": [round(t, 1) for t in reps[0]["table_mib"]]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bin", required=True, help="folder with dlrm-train")
    ap.add_argument("--ranks", default="1,2,4", help="rank counts; 1 runs without the budget (the reference)")
    ap.add_argument("--config", default="kaggle1m")
    ap.add_argument("--rank_memory_mb", type=int, default=200, help="per-rank table budget (MiB) for W > 1")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch_size", type=int, default=2048)
    ap.add_argument("--replicate_below", type=int, default=100000)
    ap.add_argument("--repeats", type=int, default=3, help="runs per configuration (medians reported)")
    ap.add_argument("--overlap", choices=["off", "on", "both"], default="off",
                    help="--overlap_allreduce for W > 1 (both: measure each)")
    ap.add_argument("--port", type=int, default=29611)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    with open("/proc/loadavg") as f:
        print("load average before: %s" % " ".join(f.read().split()[:3]), flush=True)
    if args.rank_memory_mb > 0:
        print("1 rank with --rank_memory_mb %d: refused: %s" % (args.rank_memory_mb, refused(args)), flush=True)
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.overlap]
    configs = []  # (world, budget, overlap)
    for world in (int(w) for w in args.ranks.split(",")):
        for overlap in ([False] if world == 1 else modes):
            configs.append((world, 0 if world == 1 else args.rank_memory_mb, overlap))
    # Repeats outermost: every configuration sees the same stretches of a noisy machine.
    reps = [[] for _ in configs]
    port = args.port
    for rep in range(args.repeats):
        for i, (world, budget, overlap) in enumerate(configs):
            r = run_once(args, world, port, budget, overlap)
            port += 1
            reps[i].append(r)
            print("repeat %d, ranks %d%s: %.0f samples/s, train %.1f s, wall %.1f s, AUC %.4f, peak RSS per rank "
                  "(MiB) %s, planned tables per rank (MiB) %s" % (
                      rep + 1, world, " overlap" if overlap else "", r["samples_per_second"], r["train_seconds"],
                      r["wall_seconds"], r["eval_auc"], [round(m) for m in r["peak_rss_mib"]],
                      [round(t, 1) for t in r["table_mib"]]), flush=True)
    rows = [summarize(w, b, o, reps[i]) for i, (w, b, o) in enumerate(configs)]
    with open("/proc/loadavg") as f:
        print("load average after: %s" % " ".join(f.read().split()[:3]))
    base = rows[0]
    print("\n| ranks | budget (MiB) | overlap | samples/s (median; runs) | vs 1 rank | planned tables per rank (MiB) "
          "| peak RSS per rank (MiB) | AUC |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %d | %s | %s | %.0f (%s) | %.2fx | %s | %s | %.4f |" % (
            r["world_size"], r["budget_mib"] or "none", "on" if r["overlap_allreduce"] else "off",
            r["samples_per_second"], ", ".join(str(x) for x in r["samples_per_second_runs"]),
            r["samples_per_second"] / base["samples_per_second"],
            " / ".join("%.1f" % t for t in r["table_mib"]), " / ".join(str(m) for m in r["peak_rss_mib"]),
            r["eval_auc"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
