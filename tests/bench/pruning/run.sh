#!/usr/bin/env bash
# Pruning benchmark (issue 5): hpo-server's pruners through the real TrialService vs Optuna 3.1's pruners
# on the synthetic learning-curve families dlrm_auc and lcbench_like (ported from optsuite).
#
#   bash tests/bench/pruning/run.sh [--quick] [--server PATH/hpo-server] [--out-dir DIR] [--seeds N]
#        [--trials N] [--workers N] [--families LIST] [--pruners LIST] [--sides LIST] [--merge]
#   bash tests/bench/pruning/run.sh --dlrm BUILD_TORCH/bin [--server PATH/hpo-server]
#
# full (default): 2 families x 5 pruners (none, median, percentile25, asha, hyperband) x 4 sides
#   (hpo-bayesian, optuna-tpe, hpo-random, optuna-random [replayed: identical configurations]) x 10 seeds,
#   100 trials per run; writes results/latest.{md,json} (~15-25 min on 2 shared cores).
# --quick: dlrm_auc, pruners none+asha, 1 seed, 20 trials, all 4 sides; writes results/quick/ (~15 s).
#   For the bench_smoke ctest entry: it asserts only that the harness ran.
# results/notes.md (hand-written findings) is inserted into the full report after its header.
# --dlrm DIR: instead, the small real-DLRM run (hpo-worker vs Optuna driving DIR/dlrm-train; 16 trials,
#   1500 steps, pruners none+asha, seeds 0 and 1 in 2 processes) -> results/dlrm.{md,json} (~10 min).
# --merge: keep the runs of an existing latest.json that this invocation does not redo (partial reruns).
# Environment: PYTHON (/usr/bin/python3 with python3-optuna, python3-grpcio), NICE (10),
#   HPO_SERVER_BIN (default server; else the newest build*/bin/hpo-server), PRUNEBENCH_WORKDIR (server
#   databases; default a fresh dir in /dev/shm when available: SQLite fsyncs dominate otherwise).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
NICE=${NICE:-10}
quick=0 server="" outdir="" seeds="" trials="" workers=2 families=all pruners=all sides=all merge=0 dlrm=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --server) server=$2; shift ;;
    --out-dir) outdir=$2; shift ;;
    --seeds) seeds=$2; shift ;;
    --trials) trials=$2; shift ;;
    --workers) workers=$2; shift ;;
    --families) families=$2; shift ;;
    --pruners) pruners=$2; shift ;;
    --sides) sides=$2; shift ;;
    --merge) merge=1 ;;
    --dlrm) dlrm=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [[ $quick == 1 ]]; then
  outdir=${outdir:-$HERE/results/quick}
  families=dlrm_auc pruners=none,asha seeds=${seeds:-1} trials=${trials:-20}
  title="Pruning benchmark (quick smoke run, not for comparison)"
else
  outdir=${outdir:-$HERE/results}
  seeds=${seeds:-10} trials=${trials:-100}
  title="Pruning benchmark: hpo-server vs Optuna 3.1 (synthetic learning curves)"
fi
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
server_args=()
if [[ -n $server ]]; then server_args=(--server "$(cd "$(dirname "$server")" && pwd)/$(basename "$server")"); fi
notes_args=()
if [[ $quick == 0 ]]; then notes_args=(--notes "$HERE/results/notes.md"); fi
merge_args=()
if [[ $merge == 1 ]]; then merge_args=(--merge "$outdir/latest.json"); fi

# The search-space and seeding helpers are shared with the optimizer benchmark (hpobench).
export PYTHONPATH="$HERE:$HERE/../optimizer${PYTHONPATH:+:$PYTHONPATH}"
export PRUNEBENCH_STUBS=$(mktemp -d -t prunebench-stubs-XXXXXX)
if [[ -z ${PRUNEBENCH_WORKDIR:-} ]]; then
  if [[ -d /dev/shm && -w /dev/shm ]]; then base=/dev/shm; else base=${TMPDIR:-/tmp}; fi
  export PRUNEBENCH_WORKDIR=$(mktemp -d -p "$base" prunebench-XXXXXX)
  trap 'rm -rf "$PRUNEBENCH_STUBS" "$PRUNEBENCH_WORKDIR"' EXIT
else
  trap 'rm -rf "$PRUNEBENCH_STUBS"' EXIT
fi

if [[ -n $dlrm ]]; then
  dlrm=$(cd "$dlrm" && pwd)
  srv=${server_args[1]:-}
  if [[ -z $srv ]]; then srv=$("$PYTHON" -c 'from prunebench.hpo import find_server_bin; print(find_server_bin())'); fi
  for s in 0 1; do
    nice -n "$NICE" "$PYTHON" -m prunebench.dlrm --bin "$dlrm" --server "$srv" --seeds "$s," \
      --workdir "$PRUNEBENCH_WORKDIR" --out-json "$PRUNEBENCH_WORKDIR/dlrm-$s.json" &
  done
  wait
  nice -n "$NICE" "$PYTHON" -m prunebench.dlrm --bin "$dlrm" --server "$srv" --seeds none \
    --merge "$PRUNEBENCH_WORKDIR/dlrm-0.json,$PRUNEBENCH_WORKDIR/dlrm-1.json" \
    --out-json "$outdir/dlrm.json" --out-md "$outdir/dlrm.md"
  exit 0
fi
nice -n "$NICE" "$PYTHON" -m prunebench.bench --families "$families" --pruners "$pruners" --sides "$sides" \
  --seeds "$seeds" --trials "$trials" --workers "$workers" --title "$title" "${server_args[@]}" "${merge_args[@]}" \
  --out-json "$outdir/latest.json" --out-md "$outdir/latest.md" "${notes_args[@]}"
