#!/usr/bin/env bash
# Builds swift-argument-parser's generate-manual tool, at the version this package resolved, and prints its path.
#   scripts/generate-manual-tool.sh [SCRATCH]   (the package's build directory holding the checkouts; default .build)
# (The GenerateManual command plugin would rebuild all of egress25 first; scripts/build-deb.sh runs the tool on
# the binaries it packages instead.) Its own scratch path, so it never waits for or disturbs .build.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGE_SCRATCH=${1:-.build}
CHECKOUT=$PACKAGE_SCRATCH/checkouts/swift-argument-parser
if [ ! -f "$CHECKOUT/Package.swift" ]; then
    swift package resolve --scratch-path "$PACKAGE_SCRATCH" >&2
fi
SCRATCH=.build-generate-manual
swift build --package-path "$CHECKOUT" --scratch-path "$SCRATCH" -c release --product generate-manual >&2
echo "$PWD/$(swift build --package-path "$CHECKOUT" --scratch-path "$SCRATCH" -c release --show-bin-path | sed "s,^$PWD/,,")/generate-manual"
