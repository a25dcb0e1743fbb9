#!/usr/bin/env bash
# Configures and builds hpo into ./build (override with HPO_BUILD_DIR). Uses ccache when present.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${HPO_BUILD_DIR:-build}"
JOBS="${HPO_JOBS:-2}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${HPO_BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"
