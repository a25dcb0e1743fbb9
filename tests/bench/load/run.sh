#!/usr/bin/env bash
# Load benchmark: hpo-server vs Optuna 3.1 RDB storage (SQLite) under N concurrent ask/tell processes.
#
#   bash tests/bench/load/run.sh [--smoke] [--clients N] [--duration S] [--repeats R]
#        [--hpo-mode own|shared] [--sides hpo,optuna] [--server PATH/hpo-server] [--out-dir DIR]
#
# default: 64 client processes per side, a 30 s window per side, 1 repeat (--repeats 3 for medians),
#   hpo mode `own` (one experiment per client process; `shared`: one experiment for all, like
#   Optuna's shared study); writes results/latest.{md,json}. About 1.5 min per repeat on 2 cores.
# --smoke: 4 clients x 3 s per side, results in --out-dir (default results/smoke); fails unless both
#   sides completed trials, hpo had zero errors and stored every observation it acknowledged. Never
#   asserts speed. For the bench_smoke ctest entry (~15 s).
# Environment: PYTHON (/usr/bin/python3 with python3-optuna and python3-grpcio), NICE (10; both sides
#   alike), HPO_SERVER_BIN (default server; else the newest build*/bin/hpo-server), LOADBENCH_WORKDIR
#   (parent of the databases; default $TMPDIR or /tmp, i.e. a real disk, so fsyncs count).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
NICE=${NICE:-10}
smoke=0 clients=64 duration=30 repeats=1 mode=own sides=hpo,optuna server=${HPO_SERVER_BIN:-} outdir=""
cmdline="bash tests/bench/load/run.sh $*"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --clients) clients=$2; shift ;;
    --duration) duration=$2; shift ;;
    --repeats) repeats=$2; shift ;;
    --hpo-mode) mode=$2; shift ;;
    --sides) sides=$2; shift ;;
    --server) server=$2; shift ;;
    --out-dir) outdir=$2; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
check=()
if [[ $smoke == 1 ]]; then
  clients=4 duration=3 repeats=1 check=(--check)
  outdir=${outdir:-$HERE/results/smoke}
else
  outdir=${outdir:-$HERE/results}
fi
if [[ -z $server ]]; then
  server=$(ls -t "$ROOT"/build*/bin/hpo-server 2>/dev/null | head -n1 || true)
  [[ -n $server ]] || { echo "run.sh: no hpo-server found; pass --server" >&2; exit 2; }
fi
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
workdir_args=()
if [[ -n ${LOADBENCH_WORKDIR:-} ]]; then workdir_args=(--workdir "$LOADBENCH_WORKDIR"); fi
echo "== load benchmark: $clients clients x ${duration}s, sides $sides, hpo mode $mode, server $server"
nice -n "$NICE" "$PYTHON" "$HERE/loadbench.py" --server "$server" --source-dir "$ROOT" \
  --clients "$clients" --duration "$duration" --repeats "$repeats" --sides "$sides" --hpo-mode "$mode" \
  "${workdir_args[@]}" --out-json "$outdir/latest.json" --out-md "$outdir/latest.md" \
  --command "$cmdline" "${check[@]}"
test -s "$outdir/latest.md" && test -s "$outdir/latest.json"
echo "results: $outdir/latest.md"
