#!/usr/bin/env python3
"""Distributed DLRM throughput: the same model and global batch trained by 1, 2 and 4 ranks
(processes on this machine, c10d + Gloo over loopback), with each rank's peak memory.

  /usr/bin/python3 tests/bench/dlrm/distributed_bench.py --bin build/bin [--ranks 1,2,4]

Each configuration runs `dlrm-train --world_size W --rank r` for every rank under /usr/bin/time
(peak RSS) and reports rank 0's training samples/s (global batch), the slowest rank's wall time
and the per-rank peak RSS. Large tables are placed model-parallel (--replicate_below_rows), so
per-rank memory falls as ranks are added. All ranks share this machine's cores: on 2 cores, more
ranks mean less compute per rank, so this measures memory scaling and communication overhead,
not speed-up; on a cluster each rank has its own node.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time


def run(args, world, port):
    procs = []
    with tempfile.TemporaryDirectory() as d:
        start = time.monotonic()
        for rank in range(world):
            cmd = ["/usr/bin/time", "-f", "maxrss_kb=%M", os.path.join(args.bin, "dlrm-train"),
                   "--config", args.config, "--data", "synthetic", "--max_steps", str(args.steps),
                   "--batch_size", str(args.batch_size), "--threads", "1", "--json",
                   "--world_size", str(world), "--rank", str(rank), "--master_addr", "127.0.0.1",
                   "--master_port", str(port), "--replicate_below_rows", str(args.replicate_below),
                   "--dist_timeout", "120"]
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
    return {"world_size": world, "samples_per_second": rank0["samples_per_second"],
            "train_seconds": rank0["train_seconds"], "wall_seconds": round(wall, 1),
            "eval_auc": rank0["eval_auc"],
            "peak_rss_mib": [round(r / 1024) for _, r in results]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bin", required=True, help="folder with dlrm-train")
    ap.add_argument("--ranks", default="1,2,4")
    ap.add_argument("--config", default="kaggle1m")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch_size", type=int, default=2048)
    ap.add_argument("--replicate_below", type=int, default=100000)
    ap.add_argument("--port", type=int, default=29611)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    rows = []
    for i, world in enumerate(int(w) for w in args.ranks.split(",")):
        rows.append(run(args, world, args.port + i))
        r = rows[-1]
        print("ranks %d: %.0f samples/s (rank 0, global batch), train %.1f s, wall %.1f s, "
              "AUC %.4f, peak RSS per rank (MiB) %s" % (
                  r["world_size"], r["samples_per_second"], r["train_seconds"], r["wall_seconds"],
                  r["eval_auc"], r["peak_rss_mib"]), flush=True)
    base = rows[0]
    print("\n| ranks | samples/s | vs 1 rank | peak RSS per rank (MiB) | AUC |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| %d | %.0f | %.2fx | %s | %.4f |" % (
            r["world_size"], r["samples_per_second"],
            r["samples_per_second"] / base["samples_per_second"],
            " / ".join(str(m) for m in r["peak_rss_mib"]), r["eval_auc"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
