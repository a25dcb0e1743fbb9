#!/usr/bin/env bash
# Quick start, the main job: installs what is missing, builds, and tunes DLRM end to end on
# generated Criteo-like data with the embedded SQLite default:
#   hpo-server (database hpo-data/hpo.db) + two hpo-workers (embedded LibTorch DLRM trainer),
#   the experiment of deploy/examples/dlrm.yaml (learning rate, warmup, decay, SGD or LAMB;
#   maximize AUC; ASHA pruning; Bayesian optimizer), progress while it runs, then the best AUC
#   against the data's Bayes-optimal AUC and the training steps that pruning saved.
#
# The dashboard is served while it runs; its URL is printed.
#
# Environment: HPO_PORT (default 50051), HPO_HTTP_PORT (dashboard, default 8080), HPO_DATA_DIR (default hpo-data), HPO_WORKERS (default 2),
# HPO_KEEP_SERVER=1 to leave the server running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/build.sh hpo_server hpo_cli hpo_worker hpo_dashboard_web

BIN="$PWD/${HPO_BUILD_DIR:-build}/bin"
PORT="${HPO_PORT:-50051}"
DATA_DIR="${HPO_DATA_DIR:-hpo-data}"
WORKERS="${HPO_WORKERS:-2}"
export HPO_SERVER="127.0.0.1:$PORT"
# One training thread per worker, and no OpenMP spin-waiting: workers share the cores.
export OMP_WAIT_POLICY=PASSIVE
mkdir -p -m 700 "$DATA_DIR"

PIDS=()
cleanup() {
  for pid in "${PIDS[@]:1}"; do kill -TERM "$pid" 2>/dev/null || true; done
  if [ "${HPO_KEEP_SERVER:-0}" != "1" ] && [ ${#PIDS[@]} -gt 0 ]; then
    kill -TERM "${PIDS[0]}" 2>/dev/null && wait "${PIDS[0]}" 2>/dev/null || true
    echo "== hpo-server stopped; data kept in $DATA_DIR/hpo.db"
  fi
}
trap cleanup EXIT

echo "== starting hpo-server on $HPO_SERVER (database $DATA_DIR/hpo.db, log $DATA_DIR/server.log)"
rm -f "$DATA_DIR/port" "$DATA_DIR/http_port"
"$BIN/hpo-server" --data_dir "$DATA_DIR" --listen "$HPO_SERVER" --port_file "$DATA_DIR/port" \
  --http_listen "127.0.0.1:${HPO_HTTP_PORT:-8080}" --http_port_file "$DATA_DIR/http_port" \
  >>"$DATA_DIR/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 300); do
  [ -f "$DATA_DIR/port" ] && break
  kill -0 "${PIDS[0]}" 2>/dev/null || { echo "hpo-server failed:"; tail -n 20 "$DATA_DIR/server.log"; exit 1; }
  sleep 0.1
done

# A fresh experiment name per run, so the demo can run again on the same database.
SPEC="$(mktemp --suffix=.yaml)"
sed "s/^name: .*/name: dlrm-demo-$(date +%Y%m%d-%H%M%S)/" deploy/examples/dlrm.yaml >"$SPEC"
echo "== hpo-cli create -f deploy/examples/dlrm.yaml"
ID=$("$BIN/hpo-cli" --json create -f "$SPEC" | python3 -c 'import json,sys; print(json.load(sys.stdin)["experiment"]["id"])')
rm -f "$SPEC"
"$BIN/hpo-cli" get "$ID" | head -12
DASHBOARD=""
if [ -f "$DATA_DIR/http_port" ]; then
  DASHBOARD="http://127.0.0.1:$(cat "$DATA_DIR/http_port")/#/experiments/$ID"
  echo "== dashboard: $DASHBOARD"
else
  echo "== dashboard off: port ${HPO_HTTP_PORT:-8080} is taken (set HPO_HTTP_PORT)"
fi

echo "== starting $WORKERS hpo-workers (logs $DATA_DIR/worker-N.log)"
for n in $(seq 1 "$WORKERS"); do
  "$BIN/hpo-worker" --experiment "$ID" --threads 1 --name "worker-$n" --exit_when_idle \
    --worker_id_file "$DATA_DIR/worker-$n.id" >>"$DATA_DIR/worker-$n.log" 2>&1 &
  PIDS+=($!)
done

START=$(date +%s)
LAST=""
while true; do
  LINE=$("$BIN/hpo-cli" --json get "$ID" | python3 -c '
import json, sys
e = json.load(sys.stdin)["experiment"]
p = e.get("progress", {})
print(e["state"], p.get("observation_count", 0), e["observation_budget"], p.get("failed_observation_count", 0), p.get("open_suggestion_count", 0))')
  read -r STATE DONE BUDGET FAILED OPEN <<<"$LINE"
  if [ "$DONE" != "$LAST" ]; then
    BEST=$("$BIN/hpo-cli" --json best "$ID" | python3 -c '
import json, sys
obs = json.load(sys.stdin).get("observations", [])
print("%.5f" % [v["value"] for v in obs[0]["values"] if v["name"] == "auc"][0] if obs else "-")')
    printf '  %4ds  trials %2d/%d  (%d failed, %d running)  best AUC %s\n' \
      $(( $(date +%s) - START )) "$DONE" "$BUDGET" "$FAILED" "$OPEN" "$BEST"
    LAST="$DONE"
  fi
  [ "$STATE" = "EXPERIMENT_STATE_COMPLETED" ] && break
  alive=0
  for pid in "${PIDS[@]:1}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
  if [ "$alive" = 0 ]; then echo "all workers exited before the budget was reached:"; tail -n 20 "$DATA_DIR"/worker-*.log; exit 1; fi
  sleep 2
done
for pid in "${PIDS[@]:1}"; do wait "$pid" 2>/dev/null || true; done

echo "== hpo-cli suggestions $ID"
"$BIN/hpo-cli" suggestions "$ID" | cut -c1-160
echo "== summary (finished in $(( $(date +%s) - START )) s)"
python3 deploy/dlrm_summary.py "$BIN/hpo-cli" "$ID"
echo
echo "Explore further: $BIN/hpo-cli --server $HPO_SERVER help"
if [ -n "$DASHBOARD" ]; then
  if [ "${HPO_KEEP_SERVER:-0}" = "1" ]; then
    echo "Dashboard: $DASHBOARD"
  else
    echo "Dashboard: $DASHBOARD (after this script: $BIN/hpo-server --data_dir $DATA_DIR,"
    echo "  or rerun with HPO_KEEP_SERVER=1 to keep the server running)"
  fi
fi
