#!/usr/bin/env bash
# bench/ingest.sh — corelab's storage SCP (de-identification on) side by side with dcmtk's storescp
# and Orthanc (both storing without de-identification) on the shared synthetic trial set, sent by
# dcmtk's storescu, through ../shared/bench/ingest_peer.sh: one interleaved run, fresh empty
# storage for every run, medians, server CPU and peak RSS, and a count of what each stored.
#
# usage: bench/ingest.sh [OUTDIR]   (default: bench-out/ingest; needs dcmtk, orthanc, curl, python3)
# Writes OUTDIR/summary.md (quoted in docs/benchmarks.md) and the harness's logs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED="$ROOT/../shared/bench"
OUT=${1:-$ROOT/bench-out/ingest}
DATA=${INGEST_BENCH_DATA:-${TMPDIR:-/tmp}/corelab-deid-bench-set}
RUNS=${INGEST_BENCH_RUNS:-3}

pip install -q pydicom numpy
[[ -d "$DATA/dicom" ]] || python3 "$SHARED/make_dataset.py" --out "$DATA"   # 2,016 CT/MR/PET instances
(cd "$ROOT" && cargo build --release -q -p corelab-cli)
BIN="$ROOT/target/release/corelab"
TRIAL=$(mktemp --suffix=.toml)
trap 'rm -f "$TRIAL"' EXIT
cat > "$TRIAL" <<'TOML'
[trial]
id = "BENCH-1"
sponsor = "corelab bench"
protocol = "BENCH"
phase = "II"

[[sites]]
id = "S01"
name = "Bench site"
ae_titles = ["STORESCU"]

[deid]
options = ["retain-long-modified-dates"]
TOML
export CANDIDATE_NAME=corelab CANDIDATE_AET=CORELAB CANDIDATE_CALLING_AET=STORESCU
export CANDIDATE_SETUP_CMD="$BIN --data {dir} init && $BIN --data {dir} trial create $TRIAL"
export CANDIDATE_CMD="$BIN --data {dir} serve --dicom 0.0.0.0:{dicom_port} --aet {aet}"
export CANDIDATE_COUNT_CMD="$BIN --data {dir} --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"instances\"])'"
# Debian's dcmtk and Orthanc read TCP_NODELAY; without it each C-STORE waits ~40 ms for Nagle.
# RUST_BACKTRACE (a developer's setting, read by no peer) would make every end-of-data-set in
# dicom-rs's parser capture a backtrace: the servers run as in production, without it.
TCP_NODELAY=1 env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE bash "$SHARED/ingest_peer.sh" -n "$RUNS" -s /dev/shm -t dcmtk,orthanc,candidate \
  -o 'cstore' -d "$DATA/dicom" 11200 "$OUT"
cat "$OUT/summary.md"
