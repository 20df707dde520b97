#!/usr/bin/env bash
# bench/registration.sh — rigid registration: `corelab register` side by side with elastix
# (Debian `elastix`) on the same pairs: the MNI152 T1 template against moving images made by
# known random rigid transforms (±15°, ±20 mm, 2 % noise, a sub-voxel grid offset), same contrast
# (mean squares) and a T2-like remapped contrast (Mattes mutual information). Both tools on 2
# threads, interleaved, one process per registration; error = residual rotation (°) and the
# largest displacement error over the corners of a 140 mm box about the brain (mm).
#
# usage: bench/registration.sh [OUTDIR]   (needs elastix: apt-get install elastix)
# Writes OUTDIR/summary.md (quoted in docs/benchmarks.md).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/bench-out/registration}
CASES=${REGISTRATION_BENCH_CASES:-5}
THREADS=${REGISTRATION_BENCH_THREADS:-2}

command -v elastix > /dev/null || { echo "elastix is needed: apt-get install elastix"; exit 1; }
(cd "$ROOT" && cargo build --release -q -p corelab-cli -p corelab-bench)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
mkdir -p "$OUT"
PAIRS="$OUT/pairs"
[[ -f "$PAIRS/truth-$((CASES - 1)).txt" ]] || "$BIN/registration" pairs "$PAIRS" --cases "$CASES"

seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
: > "$OUT/results.tsv"
for n in $(seq 0 $((CASES - 1))); do
  for metric in ms mi; do
    moving="$PAIRS/$metric-$n.nii.gz"
    # corelab
    found="$OUT/corelab-$metric-$n.txt"
    start=$(date +%s.%N)
    RAYON_NUM_THREADS=$THREADS "$BIN/corelab" register "$PAIRS/fixed.nii.gz" "$moving" \
      --metric "$metric" --out "$found" > /dev/null
    end=$(date +%s.%N)
    printf 'corelab\t%s\t%s\t%s\t%s\n' "$metric" "$n" "$(seconds "$start" "$end")" \
      "$("$BIN/registration" error "$PAIRS/truth-$n.txt" "$found")" | tee -a "$OUT/results.tsv"
    # elastix
    dir="$OUT/elastix-$metric-$n"
    rm -rf "$dir" && mkdir -p "$dir"
    start=$(date +%s.%N)
    elastix -f "$PAIRS/fixed.nii.gz" -m "$moving" -p "$ROOT/bench/elastix/rigid-$metric.txt" \
      -out "$dir" -threads "$THREADS" > /dev/null
    end=$(date +%s.%N)
    printf 'elastix\t%s\t%s\t%s\t%s\n' "$metric" "$n" "$(seconds "$start" "$end")" \
      "$("$BIN/registration" error "$PAIRS/truth-$n.txt" "$dir/TransformParameters.0.txt")" \
      | tee -a "$OUT/results.tsv"
  done
done

python3 - "$OUT/results.tsv" "$CASES" "$THREADS" > "$OUT/summary.md" <<'PY'
import statistics, sys
rows = [l.split('\t') for l in open(sys.argv[1]).read().split('\n') if l]
cases, threads = sys.argv[2], sys.argv[3]
print(f"### Rigid registration: {cases} random ±15°/±20 mm transforms of the MNI152 T1 (1 mm, 197×233×189), {threads} threads each\n")
print("| metric | tool | wall s, median (min–max) | error °, median (max) | error mm, median (max) |")
print("|---|---|---|---|---|")
ratios = {}
for metric, label in (("ms", "mean squares"), ("mi", "Mattes MI (T1 vs T2-like)")):
    med = {}
    for tool in ("elastix", "corelab"):
        r = [x for x in rows if x[0] == tool and x[1] == metric]
        t = [float(x[3]) for x in r]
        deg = [float(x[4].split()[0]) for x in r]
        mm = [float(x[4].split()[1]) for x in r]
        med[tool] = statistics.median(t)
        print(f"| {label} | {tool} | {med[tool]:.1f} ({min(t):.1f}–{max(t):.1f}) | {statistics.median(deg):.3f} ({max(deg):.3f}) | {statistics.median(mm):.3f} ({max(mm):.3f}) |")
    ratios[label] = med["elastix"] / med["corelab"]
print()
for label, r in ratios.items():
    print(f"corelab / elastix speed, {label}: **{r:.2f}×** (median wall times)")
PY
cat "$OUT/summary.md"
