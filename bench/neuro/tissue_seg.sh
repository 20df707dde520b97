#!/usr/bin/env bash
# bench/neuro/tissue_seg.sh — tissue segmentation: `corelab algo run neuro.tissue-seg` side by side
# with ANTs (antspyx: N4 shrink 4, then Atropos k-means[3], MRF [0.2,1x1x1], 5 iterations) on the
# same images and the same intracranial masks:
#   - the brain and ms-lesions phantoms, 3 subjects each (three sites/vendors), 2 mm, seed 7:
#     Dice per class against the truth masks (fraction ≥ ½) and volume error against the exact
#     (analytic) volumes of truth.json; corelab's volumes from its partial-volume fractions,
#     Atropos' from its posteriors (Σp × voxel volume);
#   - the MNI152 2009a T1 template (1 mm, 197×233×189; skull-stripped, the mask = voxels > 0):
#     Dice against the GM/WM probability maps thresholded at ½, volume against Σp;
#   - timing: the same template zero-padded to 256³ (1 mm), corelab only, whole process.
# Both tools on 2 threads, one process per run, interleaved. Times: corelab's algorithm alone
# (the run activity's start to end in provenance.json) and its whole `corelab algo run` process
# (reading the inputs, writing five gzipped NIfTI images); ANTs' N4 + Atropos alone (imports and
# file I/O excluded).
#
# usage: bench/neuro/tissue_seg.sh [OUTDIR]   (CORELAB_BIN=path: that corelab, not a release build;
#        needs python3 with numpy, nibabel, antspyx:
#        python3 -m venv V && V/bin/pip install antspyx nibabel; PYTHON=V/bin/python)
# Writes OUTDIR/summary.md (quoted in docs/benchmarks.md).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/bench-out/tissue-seg}
PY=${PYTHON:-python3}
THREADS=${TISSUE_BENCH_THREADS:-2}
HELP="$ROOT/bench/neuro/tissue_seg.py"
MNI="$ROOT/../shared/data/brain_mri/mni152_nilearn"
[[ -d $MNI ]] || MNI=/work/shared/data/brain_mri/mni152_nilearn
"$PY" -c "import ants, nibabel" || { echo "antspyx and nibabel are needed (see usage)"; exit 1; }
if [[ -z ${CORELAB_BIN:-} ]]; then
  (cd "$ROOT" && cargo build --release -q -p corelab-cli)
fi
BIN=${CORELAB_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/corelab}
export ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=$THREADS RAYON_NUM_THREADS=$THREADS
mkdir -p "$OUT"
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

: > "$OUT/results.tsv"
run_both() { # NAME T1 MASK KIND REFS...
  local name=$1 t1=$2 mask=$3 kind=$4; shift 4
  local dir="$OUT/corelab-$name"
  rm -rf "$dir"
  local start end
  start=$(date +%s.%N)
  "$BIN" algo run neuro.tissue-seg --input "t1=$t1" --input "mask=$mask" --out "$dir" > /dev/null
  end=$(date +%s.%N)
  "$PY" -c "import json,sys; m={x['name']:x['value'] for x in json.load(open(sys.argv[1]))['measurements']}; json.dump({'csf':m['csf-volume'],'gm':m['gm-volume'],'wm':m['wm-volume']}, open(sys.argv[2],'w'))" \
    "$dir/result.json" "$dir/volumes.json"
  printf 'corelab\t%s\t%s\t%s\t%s\n' "$name" "$("$PY" "$HELP" algo-seconds "$dir/provenance.json")" \
    "$(seconds "$start" "$end")" \
    "$("$PY" "$HELP" score "$kind" "$dir/labels.nii.gz" "$dir/volumes.json" "$@")" | tee -a "$OUT/results.tsv"
  dir="$OUT/atropos-$name"
  local s
  s=$("$PY" "$HELP" atropos "$t1" "$mask" "$dir")
  printf 'atropos\t%s\t%s\t–\t%s\n' "$name" "$s" \
    "$("$PY" "$HELP" score "$kind" "$dir/labels.nii.gz" "$dir/volumes.json" "$@")" | tee -a "$OUT/results.tsv"
}

for kind in brain ms-lesions; do
  P="$OUT/phantom-$kind"
  [[ -f $P/truth.json ]] || { rm -rf "$P"; "$BIN" phantom "$kind" --out "$P" --subjects 3 --seed 7 > /dev/null; }
  for subject in $(ls -d "$P"/*/ | xargs -n1 basename | grep -v truth); do
    t1="$OUT/$subject-T1w.nii.gz"
    [[ -f $t1 ]] || "$BIN" convert "$P/$subject/V1/T1w" "$t1" > /dev/null
    prefix="$P/truth/${subject}_V1_T1w_"
    run_both "$subject" "$t1" "${prefix}icv.nii.gz" phantom "$P/truth.json" "$subject/V1/T1w" "$prefix"
  done
done

T1="$MNI/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
"$PY" "$HELP" mask-positive "$T1" "$OUT/mni-mask.nii.gz"
run_both MNI152 "$T1" "$OUT/mni-mask.nii.gz" mni \
  "$MNI/mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz" "$MNI/mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"

"$PY" "$HELP" pad "$T1" 256 "$OUT/mni-256.nii.gz"
"$PY" "$HELP" pad "$OUT/mni-mask.nii.gz" 256 "$OUT/mni-256-mask.nii.gz"
for rep in 1 2 3; do
  rm -rf "$OUT/corelab-256"
  start=$(date +%s.%N)
  "$BIN" algo run neuro.tissue-seg --input "t1=$OUT/mni-256.nii.gz" --input "mask=$OUT/mni-256-mask.nii.gz" \
    --out "$OUT/corelab-256" > /dev/null
  end=$(date +%s.%N)
  printf 'corelab\t256cube-%s\t%s\t%s\n' "$rep" "$("$PY" "$HELP" algo-seconds "$OUT/corelab-256/provenance.json")" \
    "$(seconds "$start" "$end")" | tee -a "$OUT/results.tsv"
done

"$PY" - "$OUT/results.tsv" "$THREADS" > "$OUT/summary.md" <<'PY'
import statistics, sys
rows = [l.split('\t') for l in open(sys.argv[1]).read().split('\n') if l]
threads = sys.argv[2]
f = lambda x: "–" if x == "nan" else f"{float(x):.3f}"
g = lambda x: "–" if x == "nan" else f"{float(x):+.2f}"
print(f"### Tissue segmentation: corelab neuro.tissue-seg vs ANTs N4 + Atropos, {threads} threads each\n")
print("| case | tool | algorithm s | process s | Dice CSF | Dice GM | Dice WM | vol. err. CSF % | GM % | WM % |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if len(r) == 10:
        print(f"| {r[1]} | {r[0]} | {float(r[2]):.1f} | {r[3]} | " + " | ".join(map(f, r[4:7])) + " | " + " | ".join(map(g, r[7:10])) + " |")
for tool in ("corelab", "atropos"):
    ph = [r for r in rows if len(r) == 10 and r[0] == tool and r[1] != "MNI152"]
    if ph:
        worst_d = min(float(x) for r in ph for x in r[4:7])
        worst_e = max(abs(float(x)) for r in ph for x in r[7:10])
        med = statistics.median(float(r[2]) for r in ph)
        print(f"\n{tool}, phantoms ({len(ph)}): lowest Dice {worst_d:.3f}, largest |volume error| {worst_e:.2f} %, median {med:.1f} s")
t = [(float(r[2]), float(r[3])) for r in rows if r[1].startswith("256cube")]
if t:
    a = [x[0] for x in t]; p = [x[1] for x in t]
    print(f"\ncorelab on the MNI152 T1 padded to 256³ (1 mm): algorithm median {statistics.median(a):.1f} s (min {min(a):.1f}, max {max(a):.1f}); whole process median {statistics.median(p):.1f} s")
PY
cat "$OUT/summary.md"
