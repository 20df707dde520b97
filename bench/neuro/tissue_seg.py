#!/usr/bin/env python3
"""Helpers of bench/neuro/tissue_seg.sh (numpy, nibabel, antspyx):

  atropos T1 MASK OUTDIR       N4 (shrink 4) then Atropos (k-means init, 3 classes, MRF β 0.2,
                               26 neighbours, 5 iterations) inside MASK; writes OUTDIR/labels.nii.gz
                               and OUTDIR/volumes.json (mL: Σ posteriors × voxel volume), prints
                               the seconds N4 + Atropos took (imports and I/O excluded)
  mask-positive T1 OUT         OUT = the voxels of T1 above zero (the MNI template is skull-stripped)
  pad T1 N OUT                 T1 zero-padded to N³ voxels (the 256³ timing case)
  score KIND LABELS VOLS REF...   one TSV row: Dice CSF/GM/WM and volume error % per class
  algo-seconds PROVENANCE      the seconds between the run activity's start and end (the
                               algorithm alone, without reading inputs or writing outputs)
"""
import json
import sys
import time

import nibabel as nib
import numpy as np


def atropos(t1, mask, out):
    import os

    import ants

    img = ants.image_read(t1)
    msk = ants.image_read(mask)
    start = time.perf_counter()
    n4 = ants.n4_bias_field_correction(img, mask=msk, shrink_factor=4)
    seg = ants.atropos(a=n4, x=msk, i="Kmeans[3]", m="[0.2,1x1x1]", c="[5,0]")
    seconds = time.perf_counter() - start
    os.makedirs(out, exist_ok=True)
    ants.image_write(seg["segmentation"], f"{out}/labels.nii.gz")
    voxel = float(np.prod(img.spacing)) / 1000.0
    vols = [float(p.numpy().sum()) * voxel for p in seg["probabilityimages"]]
    json.dump({"csf": vols[0], "gm": vols[1], "wm": vols[2]}, open(f"{out}/volumes.json", "w"))
    print(f"{seconds:.2f}")


def dice(a, b):
    s = a.sum() + b.sum()
    return 1.0 if s == 0 else 2.0 * np.logical_and(a, b).sum() / s


def score(kind, labels, vols, refs):
    """Phantom: refs = truth.json SERIES_PATH TRUTH_PREFIX; MNI: refs = GM_MAP WM_MAP."""
    lab = np.asarray(nib.load(labels).dataobj).round().astype(int)
    v = json.load(open(vols))
    if kind == "phantom":
        truth, series, prefix = refs
        t = json.load(open(truth))
        exact = {}
        for s in t["subjects"]:
            for vis in s["visits"]:
                for se in vis["series"]:
                    if se["path"] == series:
                        for st in se["structures"]:
                            exact[st["name"]] = st["analytic_volume_mm3"] / 1000.0
        out = []
        for k, name in enumerate(("csf", "gm", "wm")):
            m = np.asarray(nib.load(f"{prefix}{name}.nii.gz").dataobj) > 0
            out.append(dice(lab == k + 1, m))
        for name in ("csf", "gm", "wm"):
            out.append(100.0 * (v[name] - exact[name]) / exact[name])
    else:
        gm_map, wm_map = refs
        p = [np.asarray(nib.load(f).dataobj) / 255.0 for f in (gm_map, wm_map)]
        out = [float("nan")]
        for k, pk in ((2, p[0]), (3, p[1])):
            out.append(dice(lab == k, pk > 0.5))
        out.append(float("nan"))
        for name, pk in (("gm", p[0]), ("wm", p[1])):
            ref = pk.sum() / 1000.0
            out.append(100.0 * (v[name] - ref) / ref)
    print("\t".join(f"{x:.4f}" for x in out))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "atropos":
        atropos(*args)
    elif cmd == "mask-positive":
        img = nib.load(args[0])
        m = (np.asarray(img.dataobj) > 0).astype(np.uint8)
        nib.save(nib.Nifti1Image(m, img.affine), args[1])
    elif cmd == "pad":
        img = nib.load(args[0])
        n = int(args[1])
        a = np.asarray(img.dataobj).astype(np.float32)
        out = np.zeros((n, n, n), np.float32)
        off = [(n - s) // 2 for s in a.shape]
        out[off[0]:off[0] + a.shape[0], off[1]:off[1] + a.shape[1], off[2]:off[2] + a.shape[2]] = a
        aff = img.affine.copy()
        aff[:3, 3] -= aff[:3, :3] @ np.array(off, float)
        nib.save(nib.Nifti1Image(out, aff), args[2])
    elif cmd == "algo-seconds":
        import datetime
        import re

        text = open(args[0]).read()

        def when(key):
            t = re.search(rf'"prov:{key}"\s*:\s*"([^"]+)"', text).group(1)
            t = re.sub(r"(\.\d{6})\d+", r"\1", t).replace("Z", "+00:00")
            return datetime.datetime.fromisoformat(t)

        print(f"{(when('endTime') - when('startTime')).total_seconds():.2f}")
    elif cmd == "score":
        score(args[0], args[1], args[2], args[3:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
