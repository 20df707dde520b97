"""Write a tiny fake data set with the layout the Rust generator produces.

    python make_fake_data.py --out fake_data [--n-train 4] [--n-val 2] [--seed 0]

Each volume is a noisy bright-ish ellipsoidal "head" with a few small brighter
ellipsoids as lesions, z-scored over the whole volume. Only for testing the
pipeline end to end; the real data come from the Rust phantoms.
"""
import argparse
import json
import os

import numpy as np

FULL_SHAPE = (90, 110, 90)
SMALL_SHAPE = (60, 72, 58)  # smaller than the 64^3 patch on two axes: exercises padding


def make_volume(rng: np.random.Generator, shape):
    grids = np.ogrid[tuple(slice(0, s) for s in shape)]
    centre = np.array(shape) / 2.0
    radii = np.array(shape) * 0.42
    head = sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radii)) <= 1.0

    image = np.where(head, 1.0, 0.05).astype(np.float32)
    label = np.zeros(shape, np.uint8)
    inside = np.argwhere(sum(((g - c) / (0.6 * r)) ** 2 for g, c, r in zip(grids, centre, radii)) <= 1.0)
    for _ in range(rng.integers(6, 14)):
        lc = inside[rng.integers(len(inside))]
        lr = rng.uniform(0.8, 3.0, size=3)
        blob = sum(((g - c) / r) ** 2 for g, c, r in zip(grids, lc, lr)) <= 1.0
        label[blob] = 1
        image[blob] = rng.uniform(1.5, 2.0)
    image += rng.normal(0.0, 0.15, size=shape).astype(np.float32)
    image = (image - image.mean()) / image.std()
    return image.astype(np.float32), label


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-train", type=int, default=4)
    ap.add_argument("--n-val", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    for split, n in (("train", args.n_train), ("val", args.n_val)):
        os.makedirs(os.path.join(args.out, split), exist_ok=True)
        for i in range(n):
            shape = SMALL_SHAPE if i == n - 1 and n > 1 else FULL_SHAPE
            image, label = make_volume(rng, shape)
            name = f"fake{i:03d}"
            np.save(os.path.join(args.out, split, f"{name}_image.npy"), image)
            np.save(os.path.join(args.out, split, f"{name}_label.npy"), label)
            print(f"{split}/{name}: shape {shape}, {int(label.sum())} lesion voxels")
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump({"generator": "make_fake_data.py", "seed": args.seed,
                   "n_train": args.n_train, "n_val": args.n_val}, f, indent=2)


if __name__ == "__main__":
    main()
