#!/usr/bin/env bash
# Optimizer benchmark: hpo-server (real server, gRPC) vs Optuna 3.1 on problems with known optima,
# plus the suggest-latency benchmark. Regenerates everything in one go:
#
#   bash tests/bench/optimizer/run.sh [--quick] [--reuse-baseline] [--algorithms auto|LIST]
#        [--server PATH/hpo-server] [--out-dir DIR] [--seeds N] [--workers N] [--no-latency]
#        [--problems LIST]
#
# full (default): 14 problems, 15 seeds, budgets 20/50/100, baselines random/qmc/tpe/tpe-mv/cmaes
#   (+ nsga2, MOTPE on two objectives), latency with 100 and 1000 observations; writes
#   results/latest.{md,json}, results/latency.{md,json}, results/optuna-baseline.json (baseline cache),
#   results/raw/ (per-trial traces, not committed). Optuna part ~7 min on 2 cores; hpo random-like algorithms ~1 min each.
# --quick: 4 problems (branin, conditional, hartmann6_lincon, zdt1_4d), 2 seeds, budget 20, baselines
#   random/tpe, latency with 100 observations only; writes results/quick/ (~1 min). For CI smoke tests.
# --reuse-baseline: take Optuna/random runs from results/optuna-baseline.json (deterministic per seed)
#   and run only the hpo algorithms (and baseline runs missing from the cache).
# --algorithms: hpo algorithm names, comma-separated; 'auto' (default) = every name the server knows.
# --problems: comma-separated problem names (default: all; quick: its 4) for fast iterations.
# Environment: PYTHON (/usr/bin/python3, needs python3-optuna and python3-grpcio), NICE (10),
#   HPO_SERVER_BIN (default server binary; else the newest build*/bin/hpo-server in the project).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
NICE=${NICE:-10}
quick=0 reuse=0 algos=auto server="" outdir="" seeds="" workers=2 latency=1 cache="" only_problems=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --reuse-baseline) reuse=1 ;;
    --algorithms) algos=$2; shift ;;
    --server) server=$2; shift ;;
    --out-dir) outdir=$2; shift ;;
    --seeds) seeds=$2; shift ;;
    --problems) only_problems=$2; shift ;;
    --workers) workers=$2; shift ;;
    --baseline-cache) cache=$2; shift ;;
    --no-latency) latency=0 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [[ $quick == 1 ]]; then
  outdir=${outdir:-$HERE/results/quick}
  problems=branin,conditional,hartmann6_lincon,zdt1_4d seeds=${seeds:-2} budgets=20 baselines=random,tpe
  sizes=100 k=5
  title="Optimizer benchmark (quick smoke run, not for comparison)"
else
  outdir=${outdir:-$HERE/results}
  problems=all seeds=${seeds:-15} budgets=20,50,100 baselines=default sizes=100,1000 k=30
  title="Optimizer benchmark: hpo-server vs Optuna 3.1"
fi
if [[ -n $only_problems ]]; then problems=$only_problems; fi
if [[ -z $cache ]]; then
  if [[ $reuse == 1 || $quick == 0 ]]; then cache=$HERE/results/optuna-baseline.json; else cache=$outdir/optuna-baseline.json; fi
fi
mkdir -p "$outdir/raw"
outdir=$(cd "$outdir" && pwd)
server_args=()
if [[ -n $server ]]; then server_args=(--server "$(cd "$(dirname "$server")" && pwd)/$(basename "$server")"); fi
reuse_args=()
if [[ $reuse == 1 ]]; then reuse_args=(--reuse-baseline); fi

export PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"
export HPOBENCH_STUBS=$(mktemp -d -t hpobench-stubs-XXXXXX)
trap 'rm -rf "$HPOBENCH_STUBS"' EXIT
run() { nice -n "$NICE" "$PYTHON" "$@"; }

echo "== self-test"
run -m hpobench.selftest
echo "== sample-efficiency sweep -> $outdir/latest.md"
run -m hpobench.runner --problems "$problems" --algorithms "$algos" --baselines "$baselines" \
  --seeds "$seeds" --budgets "$budgets" --workers "$workers" --baseline-cache "$cache" "${reuse_args[@]}" \
  "${server_args[@]}" --title "$title" --out-json "$outdir/latest.json" --out-md "$outdir/latest.md" \
  --raw "$outdir/raw/latest-traces.json"
if [[ $latency == 1 ]]; then
  echo "== latency -> $outdir/latency.md"
  lat_algos=$algos
  run -m hpobench.latency --algorithms "$lat_algos" --sizes "$sizes" --k "$k" "${server_args[@]}" \
    --out-json "$outdir/latency.json" --out-md "$outdir/latency.md"
fi

# The harness ran end to end: results exist and no run failed.
test -s "$outdir/latest.md" && test -s "$outdir/latest.json"
if [[ $latency == 1 ]]; then test -s "$outdir/latency.md"; fi
"$PYTHON" - "$outdir/latest.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
n = sum(len(v) for v in r["summary"].values())
assert r["meta"]["errors"] == 0, "runs failed"
assert n > 0, "no results"
print(f"ok: {n} (problem, optimizer) cells, hpo algorithms {r['meta']['hpo_algorithms']}")
PY
echo "results: $outdir/latest.md" $([[ $latency == 1 ]] && echo "$outdir/latency.md")
