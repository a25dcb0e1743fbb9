#!/bin/sh
# Generates the Python protobuf and gRPC stubs of proto/hpo/v1/*.proto into OUTDIR.
#
#   client/python/gen_stubs.sh /tmp/hpo-stubs
#   PYTHONPATH=/tmp/hpo-stubs:client/python /usr/bin/python3 client/python/example_loop.py ...
#
# Needs protoc and /usr/bin/grpc_python_plugin (Debian: protobuf-compiler,
# protobuf-compiler-grpc). Afterwards `import hpo.v1.experiment_service_pb2_grpc` works with
# OUTDIR on PYTHONPATH.
set -eu

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
out=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
plugin=${GRPC_PYTHON_PLUGIN:-/usr/bin/grpc_python_plugin}

mkdir -p "$out"
protoc -I "$root/proto" \
  --python_out="$out" \
  --grpc_out="$out" \
  --plugin=protoc-gen-grpc="$plugin" \
  "$root"/proto/hpo/v1/*.proto
# Regular packages, so the stubs import the same way under any Python path setup.
touch "$out/hpo/__init__.py" "$out/hpo/v1/__init__.py"
