#!/usr/bin/env bash
# Installs every Debian 12 package hpo needs to build, run and test. Idempotent: installs only
# what is missing, and does nothing (not even apt-get update) when everything is present.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake pkg-config ccache git
  # libraries
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libsqlite3-dev libyaml-cpp-dev libgtest-dev libgmock-dev libeigen3-dev
  # dashboard: HTTP server, JSON, and Chromium for its browser tests
  libcpp-httplib-dev nlohmann-json3-dev chromium
  # DLRM trainer: LibTorch (oneDNN inside) on OpenBLAS's OpenMP build (never the netlib BLAS)
  libtorch-dev libopenblas0-openmp libopenblas-dev
  # distributed DLRM training: Gloo headers for c10d's ProcessGroupGloo (the library comes with LibTorch)
  libgloo-dev
  # Python client and tests
  python3 python3-grpcio python3-protobuf
  # benchmarks: Optuna 3.1 and PyTorch 1.13 side by side with hpo; SciPy for Optuna's qmc sampler
  # and the benchmarks' version reports; Matplotlib for the tuning benchmark's plot
  python3-optuna python3-torch python3-scipy python3-matplotlib
  # tools
  sqlite3 procps
  # multi-host tests: network namespaces and veth links (ip netns)
  iproute2
  # fuzzing (tests/fuzz): clang, its libFuzzer and sanitizer runtimes, llvm-symbolizer
  clang libclang-rt-14-dev llvm-14
)

# The dashboard's front end builds with Node.js (>= 18) and npm: Debian's unless one is installed.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# LibTorch runs its MLPs on whatever libblas.so.3 is selected: the netlib reference BLAS is 20x
# slower than OpenBLAS. Select OpenBLAS's OpenMP build for both BLAS and LAPACK: LibTorch links
# both, and a pthread OpenBLAS behind LAPACK would run every matmul on spinning pthreads that
# fight LibTorch's OpenMP threads.
for lib in libblas.so.3 liblapack.so.3; do
  ALT="$lib-x86_64-linux-gnu"
  WANT="/usr/lib/x86_64-linux-gnu/openblas-openmp/$lib"
  if [ -e "$WANT" ] && [ "$(update-alternatives --query "$ALT" 2>/dev/null | sed -n 's/^Value: //p')" != "$WANT" ]; then
    echo "install-deps: selecting OpenBLAS (OpenMP) as $lib"
    $SUDO update-alternatives --set "$ALT" "$WANT"
  fi
done
