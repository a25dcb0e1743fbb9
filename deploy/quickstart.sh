#!/usr/bin/env bash
# Quick start: installs what is missing, builds, starts hpo-server on the embedded SQLite default
# (hpo-data/hpo.db), creates the DLRM tuning experiment from deploy/examples/dlrm.yaml and drives
# it to its observation budget with hpo-cli, then prints the best assignment.
#
# Environment: HPO_PORT (default 50051), HPO_DATA_DIR (default hpo-data), HPO_KEEP_SERVER=1 to
# leave the server running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
bash deploy/install-deps.sh
bash deploy/build.sh

BIN="$ROOT/${HPO_BUILD_DIR:-build}/bin"
PORT="${HPO_PORT:-50051}"
DATA_DIR="${HPO_DATA_DIR:-hpo-data}"
ADDR="127.0.0.1:$PORT"
export HPO_SERVER="$ADDR"
mkdir -p "$DATA_DIR"

echo "== starting hpo-server on $ADDR (database $DATA_DIR/hpo.db, log $DATA_DIR/server.log)"
rm -f "$DATA_DIR/port"
"$BIN/hpo-server" --data_dir "$DATA_DIR" --listen "$ADDR" --port_file "$DATA_DIR/port" \
  >>"$DATA_DIR/server.log" 2>&1 &
SERVER_PID=$!
stop_server() {
  if [ "${HPO_KEEP_SERVER:-0}" != "1" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" && wait "$SERVER_PID" || true
    echo "== hpo-server stopped; data kept in $DATA_DIR/hpo.db"
  fi
}
trap stop_server EXIT
for _ in $(seq 1 200); do
  [ -f "$DATA_DIR/port" ] && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "hpo-server failed to start:"; tail -n 20 "$DATA_DIR/server.log"; exit 1
  fi
  sleep 0.1
done
[ -f "$DATA_DIR/port" ] || { echo "hpo-server did not start in time"; exit 1; }

# A fresh experiment name per run, so the demo can be run again on the same database.
SPEC="$(mktemp --suffix=.yaml)"
sed "s/^name: .*/name: dlrm-demo-$(date +%Y%m%d-%H%M%S)/" deploy/examples/dlrm.yaml >"$SPEC"
echo "== hpo-cli create -f deploy/examples/dlrm.yaml"
ID=$("$BIN/hpo-cli" --json create -f "$SPEC" | python3 -c 'import json,sys; print(json.load(sys.stdin)["experiment"]["id"])')
rm -f "$SPEC"
"$BIN/hpo-cli" get "$ID"

BUDGET=$("$BIN/hpo-cli" --json get "$ID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["experiment"]["observation_budget"])')
echo "== running $BUDGET trials (suggest -> train stand-in -> observe)"
for i in $(seq 1 "$BUDGET"); do
  SUGGESTION=$("$BIN/hpo-cli" --json suggest "$ID")
  SID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["suggestion"]["id"])' <<<"$SUGGESTION")
  RESULT=$(python3 deploy/dlrm_surrogate.py <<<"$SUGGESTION")
  eval "\"$BIN/hpo-cli\" observe \"$ID\" --suggestion \"$SID\" $RESULT" >/dev/null
  printf '  trial %2d/%d: suggestion %s -> %s\n' "$i" "$BUDGET" "$SID" "$RESULT"
done

echo "== hpo-cli observations $ID"
"$BIN/hpo-cli" observations "$ID"
echo "== hpo-cli best $ID"
"$BIN/hpo-cli" best "$ID"
echo "== hpo-cli list"
"$BIN/hpo-cli" list
echo
echo "Explore further with: $BIN/hpo-cli --server $ADDR help   (server: $BIN/hpo-server --data_dir $DATA_DIR)"
