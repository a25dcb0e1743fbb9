#!/usr/bin/env bash
# Configures and builds hpo into ./build (override with HPO_BUILD_DIR). Uses ccache when present.
#   bash deploy/build.sh                      # everything, tests included
#   bash deploy/build.sh hpo_server hpo_cli   # just these targets
# HPO_CMAKE_ARGS adds configure options (e.g. -DHPO_WITH_TORCH=OFF); HPO_JOBS sets parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${HPO_BUILD_DIR:-build}"
JOBS="${HPO_JOBS:-2}"
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${HPO_BUILD_TYPE:-RelWithDebInfo}" \
  ${HPO_CMAKE_ARGS:-} >/dev/null
if [ $# -gt 0 ]; then
  cmake --build "$BUILD_DIR" -j "$JOBS" --target "$@"
else
  cmake --build "$BUILD_DIR" -j "$JOBS"
fi
