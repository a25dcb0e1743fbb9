#!/usr/bin/env bash
# End-to-end DLRM tuning benchmark: hpo (hpo-server + hpo-worker, Bayesian optimizer with no pruner, median,
# ASHA, Hyperband) vs Optuna 3.1 (TPE with the same pruners, random search) on the quick start's DLRM space,
# the real trainer and planted synthetic data, 1 and 2 trials at a time; budget in training steps.
#
#   bash tests/bench/tuning/run.sh [--bin DIR] [--server PATH] [--seeds N] [--budget N] [--jobs N]
#        [--methods LIST] [--parallel 1,2] [--parallel2-methods LIST] [--target AUC] [--out-dir DIR]
#        [--plot PNG] [--merge]
#   bash tests/bench/tuning/run.sh --quick [--bin DIR] [--server PATH] [--out-dir DIR]
#   bash tests/bench/tuning/run.sh --report-only [JSON] [--target AUC]
#   bash tests/bench/tuning/run.sh --record-table [--bin DIR]      # real-trainer curves -> data/dlrm_table.json
#   bash tests/bench/tuning/run.sh --table [--seeds 20] [--bin DIR] [--methods LIST] [--budget N]
#
# --record-table: trains 400 Sobol configurations of the space plus the default once with dlrm-train and
#   keeps every evaluation (~15-25 min on 2 shared cores). --table: replays optimizer + pruner pairs on
#   that table (nearest recorded configuration; hpo through a real hpo-server) for 20 seeds and compares
#   the ranking with the live results/latest.json -> results/table.{md,json}.
# full (default): 9 methods x 5 seeds one trial at a time (2 runs side by side), then 2 at a time;
#   20 full trials of 600 steps per run; writes results/latest.{md,json} and docs/img/tuning-dlrm.png.
# --quick: ASHA on both sides, 1 seed, 3 tiny trials' budget, 1 and 2 at a time -> results/quick/ (~30 s;
#   the bench_tuning_smoke ctest entry: it asserts only that the harness ran and wrote its table).
# --report-only: re-render results/latest.json (e.g. with another --target) without running anything.
# --bin DIR: hpo-server, hpo-worker, hpo-cli, dlrm-train, dlrm-datagen (default build/bin; a LibTorch build);
#   --server PATH overrides the server. They are copied to a temp dir first (a rebuild during the run does
#   not change what is measured) and their source commit is recorded.
# Environment: PYTHON (/usr/bin/python3 with python3-optuna, python3-grpcio, python3-yaml,
#   python3-matplotlib for the plot), NICE (10).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
NICE=${NICE:-10}
export NICE
cmdline="bash tests/bench/tuning/run.sh${*:+ $*}"
quick=0 bin="" server="" outdir="" plot="" report_only="" merge=0 extra=() mode=bench
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --bin) bin=$2; shift ;;
    --server) server=$2; shift ;;
    --out-dir) outdir=$2; shift ;;
    --plot) plot=$2; shift ;;
    --merge) merge=1 ;;
    --record-table) mode=record ;;
    --table) mode=table ;;
    --report-only)
      report_only=$HERE/results/latest.json
      if [[ $# -gt 1 && $2 != --* ]]; then report_only=$2; shift; fi ;;
    --seeds|--budget|--jobs|--methods|--parallel|--parallel2-methods|--target|--max-steps|--eval-every|--batch-size)
      extra+=("$1" "$2"); shift ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

export PYTHONPATH="$HERE:$HERE/../pruning:$HERE/../optimizer${PYTHONPATH:+:$PYTHONPATH}"
if [[ -n $report_only ]]; then
  outdir=${outdir:-$(dirname "$report_only")}
  exec "$PYTHON" -m tunebench.bench --report-only "$report_only" --out-dir "$outdir" \
    --plot "${plot:-$ROOT/docs/img/tuning-dlrm.png}" "${extra[@]}"
fi

bin=${bin:-$ROOT/build/bin}
bin=$(cd "$bin" && pwd)
[[ -n $server ]] || server=$bin/hpo-server
tmp=$(mktemp -d -t tunebench-bin-XXXXXX)
export PRUNEBENCH_STUBS=$tmp/stubs
trap 'rm -rf "$tmp"' EXIT
for b in hpo-worker hpo-cli dlrm-train dlrm-datagen; do
  [[ -x $bin/$b ]] || { echo "run.sh: $bin/$b missing (bash deploy/build.sh hpo_worker hpo_cli dlrm-train dlrm-datagen)" >&2; exit 2; }
  cp "$bin/$b" "$tmp/$b"
done
[[ -x $server ]] || { echo "run.sh: $server missing (bash deploy/build.sh hpo_server)" >&2; exit 2; }
cp "$server" "$tmp/hpo-server"

# Where the binaries came from: the build's source tree, its commit and whether server/worker/trainer
# sources had uncommitted changes (a git archive export carries its commit in a COMMIT file).
describe() {
  local dir=$1 src="" commit="?" dirty=""
  if [[ -f $dir/../CMakeCache.txt ]]; then
    src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$dir/../CMakeCache.txt")
  fi
  if [[ -n $src ]] && git -C "$src" rev-parse HEAD >/dev/null 2>&1; then
    commit=$(git -C "$src" rev-parse --short=12 HEAD)
    if [[ -n $(git -C "$src" status --porcelain -- server worker trainer client common proto 2>/dev/null) ]]; then
      dirty=" + uncommitted changes"
    fi
  elif [[ -n $src && -f $src/COMMIT ]]; then
    commit=$(cut -c1-12 "$src/COMMIT")
  fi
  echo "$commit$dirty (built in ${dir%/bin})"
}
srv_desc=$(describe "$(dirname "$server")")
bin_desc=$(describe "$bin")
sums=$(cd "$tmp" && sha256sum hpo-server hpo-worker dlrm-train | awk '{printf "%s %s; ", $2, substr($1,1,12)}')
"$PYTHON" - "$tmp/provenance.json" "$srv_desc" "$bin_desc" "$sums" <<'EOF'
import json, sys
path, srv, other, sums = sys.argv[1:]
d = f"hpo-server {srv}" + (f"; hpo-worker, dlrm-train {other}" if other != srv else "; hpo-worker, dlrm-train the same")
json.dump({"describe": d, "server": srv, "others": other, "sha256": sums.strip("; ")}, open(path, "w"))
EOF
echo "binaries: $(sed -n 's/.*"describe": "\([^"]*\)".*/\1/p' "$tmp/provenance.json")"
"$PYTHON" -c 'from prunebench.hpo import ensure_stubs; ensure_stubs()'

if [[ $mode == record ]]; then
  nice -n "$NICE" "$PYTHON" -m tunebench.table record --bin "$tmp" \
    --provenance "$(sed -n 's/.*"describe": "\([^"]*\)".*/\1/p' "$tmp/provenance.json")"
  exit
fi
if [[ $mode == table ]]; then
  outdir=${outdir:-$HERE/results}
  nice -n "$NICE" "$PYTHON" -m tunebench.table replay --bin "$tmp" --out-dir "$outdir" --command "$cmdline" \
    --live "$HERE/results/latest.json" "${extra[@]}"
  exit
fi

if [[ $quick == 1 ]]; then
  outdir=${outdir:-$HERE/results/quick}
  args=(--seeds 1 --budget 3 --max-steps 120 --eval-every 40 --batch-size 128 --train-examples 32768
        --test-examples 4096 --methods hpo-bayesian/asha,optuna-tpe/asha --parallel 1,2
        --parallel2-methods hpo-bayesian/asha,optuna-tpe/asha --jobs 2
        --title "End-to-end DLRM tuning (quick smoke run, not for comparison)")
  plot=${plot:-$outdir/latest.png}
else
  outdir=${outdir:-$HERE/results}
  args=()
  plot=${plot:-$ROOT/docs/img/tuning-dlrm.png}
fi
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
merge_args=()
if [[ $merge == 1 ]]; then merge_args=(--merge "$outdir/latest.json"); fi
nice -n "$NICE" "$PYTHON" -m tunebench.bench --bin "$tmp" --provenance "$tmp/provenance.json" \
  --out-dir "$outdir" --plot "$plot" --command "$cmdline" "${args[@]}" "${extra[@]}" "${merge_args[@]}"
if ! grep -q '^| method |' "$outdir/latest.md"; then
  echo "run.sh: no result table in $outdir/latest.md" >&2
  exit 1
fi
