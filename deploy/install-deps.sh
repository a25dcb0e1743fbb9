#!/usr/bin/env bash
# Installs every Debian 12 package hpo needs to build, run and test. Idempotent: installs only
# what is missing, and does nothing (not even apt-get update) when everything is present.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake pkg-config ccache git
  # libraries
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libsqlite3-dev libyaml-cpp-dev libgtest-dev libgmock-dev
  # Python client and tests
  python3 python3-grpcio python3-protobuf
  # tools
  sqlite3 procps
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
