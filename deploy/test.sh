#!/usr/bin/env bash
# The test command: installs what is missing, builds everything and runs every test
# (unit and integration labels). CI runs this through .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/build.sh
BUILD_DIR="${HPO_BUILD_DIR:-build}"
cd "$BUILD_DIR"
ctest --output-on-failure -j "${HPO_JOBS:-2}" --timeout 600
# Fuzzing: each libFuzzer target of tests/fuzz for HPO_FUZZ_SECONDS (40) from the repository root.
cd "$OLDPWD" && bash tests/fuzz/run.sh "${HPO_FUZZ_SECONDS:-40}"
