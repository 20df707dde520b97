#!/usr/bin/env bash
# bench/deid.sh — corelab deid side by side with dicognito and pydicom's deid (and a bare pydicom
# read+write) on the shared synthetic trial set, through ../shared/bench/deid_peer.sh: same input,
# one interleaved run, medians, and a residual-PHI scan of every tool's output.
#
# usage: bench/deid.sh [OUTDIR]   (default: bench-out/deid; needs python3 with pip)
# Writes OUTDIR/summary.md (the table quoted in docs/benchmarks.md) and the harness's logs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED="$ROOT/../shared/bench"
OUT=${1:-$ROOT/bench-out/deid}
DATA=${DEID_BENCH_DATA:-${TMPDIR:-/tmp}/corelab-deid-bench-set}

pip install -q pydicom numpy dicognito deid
[[ -d "$DATA/dicom" ]] || python3 "$SHARED/make_dataset.py" --out "$DATA"   # 8 subjects x 2 visits x 42 slices = 2,016 instances
(cd "$ROOT" && cargo build --release -q -p corelab-cli)
SECRET=$(mktemp)
trap 'rm -f "$SECRET"' EXIT
openssl rand -hex 32 > "$SECRET"
DEID_CANDIDATE_NAME=corelab \
DEID_CANDIDATE_CMD="$ROOT/target/release/corelab deid {in} {out} --secret-file $SECRET --option retain-long-modified-dates" \
  bash "$SHARED/deid_peer.sh" -n 3 -d "$DATA/dicom" "$OUT"
cat "$OUT/summary.md"
