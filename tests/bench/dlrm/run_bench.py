#!/usr/bin/python3
"""DLRM benchmark: the C++ trainer (dlrm-train) against plain PyTorch eager (dlrm_reference.py).

One invocation runs, alternating so both see the same machine load:
  - REPEATS x (C++ kaggle1m training, Python kaggle1m training), batch 2048, THREADS threads,
    fp32 SGD lr 0.1, same shapes; C++ reads a pre-generated binary file (mmap loader), Python
    pre-generated random one-hot batches; both time training steps only;
  - the fp32 matmul peak of this machine (torch.mm loop, same threads);
  - an AUC run of the C++ trainer on synthetic data at a fixed step budget vs the Bayes AUC.
Prints a Markdown table: medians, ratio, FLOP/sample, fraction of peak, peak RSS, AUC gap.

  tests/bench/dlrm/run_bench.py --bin build/bin [--repeats 3] [--threads 2]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, env):
    """Runs cmd, returns (stdout, peak RSS in MiB) of that child alone."""
    with tempfile.TemporaryFile() as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        out.seek(0)
        text = out.read().decode()
    if os.waitstatus_to_exitcode(status) not in (0,):
        sys.exit("failed: %s\n%s" % (" ".join(cmd), text))
    return text, usage.ru_maxrss / 1024.0


def last_json(text):
    return json.loads([l for l in text.splitlines() if l.startswith("{")][-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--auc_steps", type=int, default=2000)
    ap.add_argument("--auc_lr", type=float, default=0.05)
    ap.add_argument("--auc_warmup", type=int, default=200)
    ap.add_argument("--wait_policy", default="PASSIVE")
    a = ap.parse_args()
    env = dict(os.environ, OMP_WAIT_POLICY=a.wait_policy, OMP_NUM_THREADS=str(a.threads))
    tmp = tempfile.mkdtemp(prefix="dlrm-bench-")
    train_bin = os.path.join(tmp, "train.bin")
    test_bin = os.path.join(tmp, "test.bin")
    run([os.path.join(a.bin, "dlrm-datagen"), "--mode=synthetic", "--table_sizes=kaggle", "--table_scale=1",
         "--max_table_rows=1000000", "--train_examples=%d" % (2048 * 48), "--test_examples=16384",
         "--out_train=" + train_bin, "--out_test=" + test_bin], env)
    cpp_cmd = [os.path.join(a.bin, "dlrm-train"), "--config=kaggle1m", "--data=binary",
               "--train_path=" + train_bin, "--test_path=" + test_bin, "--eval_examples=16384",
               "--optimizer=sgd", "--lr=0.1", "--threads=%d" % a.threads, "--max_steps=%d" % (a.steps + 10),
               "--eval_every=10", "--json"]
    py_cmd = ["/usr/bin/python3", os.path.join(HERE, "dlrm_reference.py"), "--threads=%d" % a.threads,
              "--steps=%d" % a.steps, "--warmup=10"]
    cpp, py, cpp_rss, py_rss = [], [], [], []
    flops = None
    for r in range(a.repeats):
        text, rss = run(cpp_cmd, env)
        j = last_json(text)
        # The first 10 steps (thread pools, first-touch allocations) are warmup, as in Python.
        cpp.append(statistics.median(j["window_samples_per_second"][1:]))
        cpp_rss.append(rss)
        flops = j["flops_per_sample"]
        text, rss = run(py_cmd, env)
        py.append(last_json(text)["samples_per_second"]); py_rss.append(rss)
        print("repeat %d: C++ %.0f samples/s, Python %.0f samples/s" % (r, cpp[-1], py[-1]), flush=True)
    peak = last_json(run(["/usr/bin/python3", os.path.join(HERE, "dlrm_reference.py"), "--peak",
                          "--threads=%d" % a.threads], env)[0])["peak_gflops"]
    auc_cmd = [os.path.join(a.bin, "dlrm-train"), "--config=kaggle1m", "--data=synthetic", "--table_scale=0.001",
               "--optimizer=adagrad", "--lr=%g" % a.auc_lr, "--warmup_steps=%d" % a.auc_warmup, "--batch_size=1024", "--max_steps=%d" % a.auc_steps,
               "--threads=%d" % a.threads, "--synthetic_test_examples=65536", "--json"]
    auc = last_json(run(auc_cmd, env)[0])
    c, p = statistics.median(cpp), statistics.median(py)
    print()
    print("| metric | C++ dlrm-train | Python eager (torch %s) |" % "1.13")
    print("|---|---|---|")
    print("| kaggle1m train samples/s, median of %d (runs) | %.0f (%s) | %.0f (%s) |" % (
        a.repeats, c, ", ".join("%.0f" % x for x in cpp), p, ", ".join("%.0f" % x for x in py)))
    print("| ratio C++ / Python | %.2fx | 1.00x |" % (c / p))
    print("| FLOP/sample (fwd+bwd) | %.3g | same model |" % flops)
    print("| achieved GFLOP/s, fraction of measured mm peak (%.0f GFLOP/s) | %.1f, %.0f%% | %.1f, %.0f%% |" % (
        peak, c * flops / 1e9, 100 * c * flops / 1e9 / peak, p * flops / 1e9, 100 * p * flops / 1e9 / peak))
    print("| peak RSS MiB (max over runs) | %.0f | %.0f |" % (max(cpp_rss), max(py_rss)))
    print("| synthetic AUC after %d steps (%d examples; adagrad lr %g, %d warmup steps, batch 1024, tables x0.001) "
          "| %.4f vs Bayes %.4f, gap %.4f | - |" % (
        a.auc_steps, a.auc_steps * 1024, a.auc_lr, a.auc_warmup, auc["eval_auc"], auc["bayes_auc"], auc["bayes_auc"] - auc["eval_auc"]))
    print("\nthreads=%d OMP_WAIT_POLICY=%s; timings are training steps only (data generated "
          "beforehand; the C++ mmap loader's prefetch thread still runs during the steps)." % (
        a.threads, a.wait_policy))


if __name__ == "__main__":
    main()
