"""Times radiomics.ibsi and pyradiomics on the same image/mask pairs, interleaved.

Each run is a whole process: corelab's `algo run` (reads the files, computes, writes features.csv,
result.json and provenance) and pyradiomics' command line (reads, computes, writes a CSV). Both
with a fixed bin size of 25, no resampling, 3D texture. corelab runs twice: with the families
pyradiomics computes by default (shape, first order, GLCM, GLRLM, GLSZM, GLDM, NGTDM; ours add
the IBSI features of those families that pyradiomics lacks, but not Moran's I and Geary's C),
and with every family. Prints a Markdown table of medians and the ratios, and writes it to
OUT/radiomics.md.
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "radiomics")
CASES = [
    ("IBSI CT phantom (lung tumour, 1.3·10⁵ voxels)",
     "ibsi1_ct_phantom/nifti/image/phantom.nii.gz", "ibsi1_ct_phantom/nifti/mask/mask.nii.gz"),
    ("pyradiomics brain1 (MR)", "pyradiomics/brain1_image.nrrd", "pyradiomics/brain1_label.nrrd"),
    ("pyradiomics breast1 (MR)", "pyradiomics/breast1_image.nrrd", "pyradiomics/breast1_label.nrrd"),
]
SAME = "families=morphology,statistics,histogram,glcm,glrlm,glszm,ngtdm,ngldm"
PYRADIOMICS = "import sys; from radiomics.scripts import parse_args; sys.exit(parse_args())"
PARAMS = "setting:\n  binWidth: 25\n  label: 1\nimageType:\n  Original: {}\n"


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corelab", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp()
    params = os.path.join(work, "params.yaml")
    with open(params, "w") as f:
        f.write(PARAMS)
    rows = []
    for name, img, msk in CASES:
        img, msk = os.path.join(SHARED, img), os.path.join(SHARED, msk)
        ours, every, theirs = [], [], []
        for r in range(a.reps):
            for extra, times in (([SAME, "--param", "autocorrelation=false"], ours), ([], every)):
                d = os.path.join(work, f"corelab-{r}")
                shutil.rmtree(d, ignore_errors=True)
                times.append(timed([a.corelab, "algo", "run", "radiomics.ibsi", "--input", f"image={img}",
                                    "--input", f"mask={msk}", "--param", "discretisation=fbs",
                                    "--param", "bin_width=25", "--param", "texture=3d", "--out", d]
                                   + (["--param"] + extra if extra else [])))
            theirs.append(timed([sys.executable, "-c", PYRADIOMICS, img, msk, "--param", params,
                                 "-o", os.path.join(work, f"py-{r}.csv"), "-f", "csv"]))
        mo, me, mt = statistics.median(ours), statistics.median(every), statistics.median(theirs)
        rows.append(f"| {name} | {mt:.2f} | {mo:.3f} | {mt / mo:.1f}× | {me:.3f} | {mt / me:.1f}× |")
        print(rows[-1], flush=True)
    table = ("| image and mask | pyradiomics (s) | corelab, pyradiomics' families (s) | ratio | corelab, every family (s) | ratio |\n"
             "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    with open(os.path.join(a.out, "radiomics.md"), "w") as f:
        f.write(table)
    print(table)


if __name__ == "__main__":
    main()
