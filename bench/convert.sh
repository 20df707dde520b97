#!/usr/bin/env bash
# bench/convert.sh — series → NIfTI: `corelab convert` side by side with dcm2niix on the shared
# synthetic trial set (48 series: CT 512², MR 256², PET 192², 42 slices each), one process per
# series for both, uncompressed .nii with a JSON sidecar for both, interleaved runs, medians.
#
# usage: bench/convert.sh [OUTDIR]   (default: bench-out/convert; needs dcm2niix, python3)
# Writes OUTDIR/summary.md (quoted in docs/benchmarks.md).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED="$ROOT/../shared/bench"
OUT=${1:-$ROOT/bench-out/convert}
DATA=${INGEST_BENCH_DATA:-${TMPDIR:-/tmp}/corelab-deid-bench-set}
RUNS=${CONVERT_BENCH_RUNS:-3}

pip install -q pydicom numpy
[[ -d "$DATA/dicom" ]] || python3 "$SHARED/make_dataset.py" --out "$DATA"
(cd "$ROOT" && cargo build --release -q -p corelab-cli)
BIN="$ROOT/target/release/corelab"
mapfile -t SERIES < <(find "$DATA/dicom" -mindepth 3 -maxdepth 3 -type d | sort)
SLICES=$(find "${SERIES[@]}" -type f | wc -l)
mkdir -p "$OUT"
SCRATCH=$(mktemp -d /dev/shm/convert-bench.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT

run_tool() { # tool run → seconds
  local tool=$1 dir="$SCRATCH/$1-$2" start end
  mkdir -p "$dir"
  start=$(date +%s.%N)
  for s in "${SERIES[@]}"; do
    name=$(echo "${s#"$DATA/dicom/"}" | tr '/' '_')
    case $tool in
      corelab) "$BIN" convert "$s" "$dir/$name.nii" > /dev/null ;;
      dcm2niix) dcm2niix -z n -b y -f "$name" -o "$dir" "$s" > /dev/null ;;
    esac
  done
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}

: > "$OUT/results.tsv"
for r in $(seq 1 "$RUNS"); do
  for tool in dcm2niix corelab; do
    t=$(run_tool "$tool" "$r")
    printf '%s\t%s\t%s\n' "$tool" "$r" "$t" | tee -a "$OUT/results.tsv"
  done
done
python3 - "$OUT/results.tsv" "${#SERIES[@]}" "$SLICES" "$RUNS" > "$OUT/summary.md" <<'PY'
import statistics, sys
rows = [l.split('\t') for l in open(sys.argv[1]).read().split('\n') if l]
series, slices, runs = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
t = {}
for tool, _, s in rows:
    t.setdefault(tool, []).append(float(s))
print(f"### Series → NIfTI: {series} series, {slices} slices, {runs} interleaved runs, one process per series\n")
print("| tool | wall s, median (min–max) | series/s | slices/s |")
print("|---|---|---|---|")
for tool in ("dcm2niix", "corelab"):
    m = statistics.median(t[tool])
    print(f"| {tool} | {m:.2f} ({min(t[tool]):.2f}–{max(t[tool]):.2f}) | {series / m:.1f} | {slices / m:.0f} |")
r = statistics.median(t["dcm2niix"]) / statistics.median(t["corelab"])
print(f"\ncorelab / dcm2niix speed: **{r:.2f}×** (median wall times)")
PY
cat "$OUT/summary.md"
