#!/usr/bin/env bash
# radiomics.ibsi against pyradiomics (PyPI) on the same image and mask pairs, interleaved, median
# of 3 whole processes each. Usage: bench/radiomics/radiomics.sh [OUTDIR]
#   PYTHON       a Python to install pyradiomics into (default python3)
#   CORELAB_BIN  a built corelab (default: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-/tmp/bench-radiomics}
py=${PYTHON:-python3}
pipi() { "$py" -m pip install -q "$@" || "$py" -m pip install -q --break-system-packages "$@"; }
if ! "$py" -c 'import radiomics' 2>/dev/null; then
  # pyradiomics 3.1.0's sdist does not build as published; this gives 3.0.1 (../shared/bench/README.md).
  pipi numpy SimpleITK pywavelets versioneer setuptools wheel
  pipi --no-build-isolation pyradiomics
fi
if [ -z "${CORELAB_BIN:-}" ]; then
  cargo build --release --locked -p corelab-cli
  CORELAB_BIN="${CARGO_TARGET_DIR:-target}/release/corelab"
fi
"$py" bench/radiomics/run.py --corelab "$CORELAB_BIN" --out "$out" --reps "${REPS:-3}"
