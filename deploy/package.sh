#!/usr/bin/env bash
# Builds the Debian packages of hpo into dist/ (HPO_DIST_DIR): hpo-server, hpo-worker, hpo-cli,
# python3-hpo and hpo-common, for /usr. Builds what they hold first, in ./build (HPO_BUILD_DIR).
#   bash deploy/package.sh && sudo apt-get install ./dist/*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/build.sh hpo_packaged
BUILD_DIR="${HPO_BUILD_DIR:-build}"
DIST_DIR="$(realpath -m "${HPO_DIST_DIR:-dist}")"
mkdir -p "$DIST_DIR"
rm -f "$DIST_DIR"/*.deb
(cd "$BUILD_DIR" && cpack -G DEB -B "$DIST_DIR/.cpack" >/dev/null)
mv "$DIST_DIR"/.cpack/*.deb "$DIST_DIR"/
rm -rf "$DIST_DIR/.cpack"
for deb in "$DIST_DIR"/*.deb; do
  echo "$deb: $(dpkg-deb -f "$deb" Package Version Depends | tr '\n' ' ')"
done
