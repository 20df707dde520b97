"""Train the FLAIR lesion 3-D U-Net on the Rust phantoms and export it to ONNX.

    python train.py --data DATA --out OUT [--iterations N] [--seed S] [--threads T]

DATA/{train,val}/NAME_image.npy (float32 [D,H,W], z-scored) + NAME_label.npy
(uint8, 0/1) and DATA/manifest.json. Writes OUT/train_log.csv, OUT/best.pt,
OUT/last.pt, OUT/flair_lesions.onnx and OUT/run.json.
"""
import argparse
import csv
import glob
import json
import math
import os
import platform
import random
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime
import torch
import torch.nn.functional as F

from export import export_onnx
from model import CHANNELS, PATCH, UNet3D, count_parameters

PAD = 0.0            # value for voxels outside the volume (training patches and sliding-window inference)
BATCH = 2
WINDOW_OVERLAP = 0.5  # sliding-window overlap (step = PATCH * (1 - overlap))
GAUSSIAN_SIGMA = PATCH / 8  # sliding-window weighting, as nnU-Net
FG_JITTER = PATCH // 4      # lesion-centred patches: centre = lesion voxel + U[-J, J] per axis
# ~15 min on 2 free CPU cores: measured 3.7 CPU-s (~2 s wall) per iteration at batch 2, 64^3,
# plus 5 validations (~1.7 CPU-s per 90x110x90 volume per validation); see README "Timing".
DEFAULT_ITERATIONS = 350
VALIDATIONS = 5  # default --val-every = iterations // VALIDATIONS


# ----------------------------------------------------------------------------- data
def load_split(folder):
    cases = []
    for img_path in sorted(glob.glob(os.path.join(folder, "*_image.npy"))):
        name = os.path.basename(img_path)[: -len("_image.npy")]
        image = np.load(img_path).astype(np.float32, copy=False)
        label = np.load(os.path.join(folder, f"{name}_label.npy")).astype(np.uint8, copy=False)
        if image.shape != label.shape or image.ndim != 3:
            raise ValueError(f"{name}: image {image.shape} / label {label.shape} mismatch")
        cases.append({"name": name, "image": image, "label": label, "fg": np.argwhere(label > 0)})
    if not cases:
        raise FileNotFoundError(f"no *_image.npy in {folder}")
    return cases


def crop(volume, start, size, pad):
    """volume[start:start+size] per axis; parts outside the volume are `pad`."""
    out = np.full(size, pad, dtype=volume.dtype)
    src, dst = [], []
    for s, n, dim in zip(start, size, volume.shape):
        lo, hi = max(s, 0), min(s + n, dim)
        src.append(slice(lo, hi))
        dst.append(slice(lo - s, hi - s))
    out[tuple(dst)] = volume[tuple(src)]
    return out


def patch_start_range(dim):
    """Allowed patch starts on one axis: fully inside if the volume is big enough, else centred."""
    if dim >= PATCH:
        return 0, dim - PATCH
    s = -((PATCH - dim) // 2)
    return s, s


def sample_patch(rng, case, fg_fraction):
    shape = case["image"].shape
    ranges = [patch_start_range(d) for d in shape]
    if len(case["fg"]) and rng.random() < fg_fraction:
        centre = case["fg"][rng.integers(len(case["fg"]))] + rng.integers(-FG_JITTER, FG_JITTER + 1, size=3)
        start = [int(np.clip(c - PATCH // 2, lo, hi)) for c, (lo, hi) in zip(centre, ranges)]
    else:
        start = [int(rng.integers(lo, hi + 1)) for lo, hi in ranges]
    size = (PATCH,) * 3
    # Intensity augmentation on the in-volume voxels only, so padding stays exactly PAD.
    inside = crop(np.ones(shape, bool), start, size, False) if min(shape) < PATCH else None
    img = crop(case["image"], start, size, PAD)
    lbl = crop(case["label"], start, size, 0)
    return img, lbl, inside


def augment(rng, img, lbl, inside):
    scale, shift, sigma = rng.uniform(0.9, 1.1), rng.uniform(-0.1, 0.1), rng.uniform(0.0, 0.1)
    aug = img * scale + shift + rng.standard_normal(img.shape, dtype=np.float32) * sigma
    img = np.where(inside, aug, PAD).astype(np.float32) if inside is not None else aug.astype(np.float32)
    for axis in range(3):
        if rng.random() < 0.5:
            img, lbl = np.flip(img, axis), np.flip(lbl, axis)
    return np.ascontiguousarray(img), np.ascontiguousarray(lbl)


def make_batch(rng, cases, fg_fraction):
    imgs, lbls = [], []
    for _ in range(BATCH):
        img, lbl, inside = sample_patch(rng, cases[rng.integers(len(cases))], fg_fraction)
        img, lbl = augment(rng, img, lbl, inside)
        imgs.append(img)
        lbls.append(lbl)
    return torch.from_numpy(np.stack(imgs)[:, None]), torch.from_numpy(np.stack(lbls).astype(np.int64))


# ----------------------------------------------------------------------------- loss
def loss_fn(logits, target, eps=1e-5):
    """Cross-entropy + (1 - soft Dice of the lesion class), Dice pooled over the batch."""
    ce = F.cross_entropy(logits, target)
    p = torch.softmax(logits, dim=1)[:, 1]
    g = (target == 1).float()
    dice = (2 * (p * g).sum() + eps) / (p.sum() + g.sum() + eps)
    return ce + (1 - dice), ce.detach(), (1 - dice).detach()


# ----------------------------------------------------------------------------- inference
def window_starts(dim):
    """Window starts on one axis of a volume already padded to >= PATCH.

    n = ceil((dim - PATCH) / step) + 1 windows, start_i = floor(i * (dim - PATCH) / (n - 1)).
    """
    if dim <= PATCH:
        return [0]
    step = PATCH * (1 - WINDOW_OVERLAP)
    n = math.ceil((dim - PATCH) / step) + 1
    return [i * (dim - PATCH) // (n - 1) for i in range(n)]


def gaussian_weights():
    """w[i,j,k] = g[i] g[j] g[k], g[i] = exp(-(i - (PATCH-1)/2)^2 / (2 sigma^2)) / g_max."""
    i = np.arange(PATCH, dtype=np.float64) - (PATCH - 1) / 2
    g = np.exp(-(i ** 2) / (2 * GAUSSIAN_SIGMA ** 2))
    g /= g.max()
    return np.einsum("i,j,k->ijk", g, g, g).astype(np.float32)


@torch.no_grad()
def predict_volume(model, image, weights, batch=BATCH):
    """Gaussian-weighted mean of window logits over the whole volume -> logits [2, D, H, W]."""
    shape = image.shape
    before = [max(PATCH - d, 0) // 2 for d in shape]
    padded_shape = [max(d, PATCH) for d in shape]
    vol = crop(image, [-b for b in before], padded_shape, PAD)
    acc = np.zeros((2, *padded_shape), np.float32)
    norm = np.zeros(padded_shape, np.float32)
    starts = [(a, b, c) for a in window_starts(padded_shape[0])
              for b in window_starts(padded_shape[1]) for c in window_starts(padded_shape[2])]
    for k in range(0, len(starts), batch):
        chunk = starts[k:k + batch]
        x = np.stack([vol[a:a + PATCH, b:b + PATCH, c:c + PATCH] for a, b, c in chunk])[:, None]
        out = model(torch.from_numpy(np.ascontiguousarray(x))).numpy()
        for (a, b, c), o in zip(chunk, out):
            acc[:, a:a + PATCH, b:b + PATCH, c:c + PATCH] += o * weights
            norm[a:a + PATCH, b:b + PATCH, c:c + PATCH] += weights
    acc /= norm
    return acc[(slice(None),) + tuple(slice(b, b + d) for b, d in zip(before, shape))]


def validate(model, cases, weights):
    model.eval()
    dices = []
    for case in cases:
        pred = np.argmax(predict_volume(model, case["image"], weights), axis=0) == 1
        gt = case["label"] == 1
        denom = pred.sum() + gt.sum()
        dices.append(1.0 if denom == 0 else 2.0 * np.logical_and(pred, gt).sum() / denom)
    model.train()
    return float(np.mean(dices)), [float(d) for d in dices]


# ----------------------------------------------------------------------------- main
def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=os.path.dirname(os.path.abspath(__file__)), timeout=10).stdout.strip() or None
    except Exception:
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--fg-fraction", type=float, default=0.67, help="share of lesion-centred patches")
    ap.add_argument("--val-every", type=int, default=None,
                    help=f"validate every K iterations (default iterations // {VALIDATIONS}) and at the end")
    ap.add_argument("--log-every", type=int, default=50)
    args = ap.parse_args()
    if args.val_every is None:
        args.val_every = max(1, args.iterations // VALIDATIONS)
    os.makedirs(args.out, exist_ok=True)
    t_start = time.time()

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    try:
        torch.use_deterministic_algorithms(True)
        # The NaN-filling of fresh tensors is a debugging aid that doubles CPU step time; results do not depend on it.
        torch.utils.deterministic.fill_uninitialized_memory = False
        deterministic = True
    except Exception as e:  # pragma: no cover
        print(f"warning: deterministic algorithms unavailable: {e}")
        deterministic = False
    rng = np.random.default_rng(args.seed)

    train_cases = load_split(os.path.join(args.data, "train"))
    val_cases = load_split(os.path.join(args.data, "val"))
    manifest_path = os.path.join(args.data, "manifest.json")
    manifest = json.load(open(manifest_path)) if os.path.exists(manifest_path) else None
    print(f"{len(train_cases)} training / {len(val_cases)} validation volumes")

    model = UNet3D()
    n_params = count_parameters(model)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    poly = lambda it: (1 - it / args.iterations) ** 0.9  # nnU-Net polynomial decay
    sched = torch.optim.lr_scheduler.LambdaLR(opt, poly)
    weights = gaussian_weights()

    log_file = open(os.path.join(args.out, "train_log.csv"), "w", newline="")
    log = csv.writer(log_file)
    log.writerow(["iteration", "lr", "loss", "ce", "dice_loss", "sec_per_iter", "elapsed_s", "val_dice"])
    best_dice, best_iter, val_history = -1.0, None, []
    run_loss, run_ce, run_dl, run_n = 0.0, 0.0, 0.0, 0
    train_time, train_time_logged = 0.0, 0.0

    model.train()
    for it in range(1, args.iterations + 1):
        t0 = time.time()
        x, y = make_batch(rng, train_cases, args.fg_fraction)
        loss, ce, dl = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        lr = opt.param_groups[0]["lr"]
        sched.step()
        train_time += time.time() - t0
        run_loss, run_ce, run_dl, run_n = run_loss + loss.item(), run_ce + ce.item(), run_dl + dl.item(), run_n + 1

        if it == 5 or it == min(50, args.iterations):
            spi = train_time / it
            print(f"[{it}] {spi:.2f} s/iteration -> training ETA {spi * (args.iterations - it) / 60:.1f} min "
                  f"(plus validation)", flush=True)

        val_dice = None
        if it % args.val_every == 0 or it == args.iterations:
            t_val = time.time()
            val_dice, per_case = validate(model, val_cases, weights)
            val_history.append({"iteration": it, "dice": val_dice, "per_case": per_case})
            if val_dice > best_dice:
                best_dice, best_iter = val_dice, it
                torch.save(model.state_dict(), os.path.join(args.out, "best.pt"))
            print(f"[{it}] validation Dice {val_dice:.4f} (best {best_dice:.4f} @ {best_iter}, "
                  f"{time.time() - t_val:.0f} s)", flush=True)

        if it % args.log_every == 0 or it == args.iterations or val_dice is not None:
            elapsed = time.time() - t_start
            log.writerow([it, f"{lr:.6g}", f"{run_loss / run_n:.5f}", f"{run_ce / run_n:.5f}",
                          f"{run_dl / run_n:.5f}", f"{(train_time - train_time_logged) / run_n:.3f}", f"{elapsed:.1f}",
                          "" if val_dice is None else f"{val_dice:.5f}"])
            log_file.flush()
            print(f"[{it}/{args.iterations}] loss {run_loss / run_n:.4f} (ce {run_ce / run_n:.4f}, "
                  f"1-dice {run_dl / run_n:.4f}) lr {lr:.2e} elapsed {elapsed / 60:.1f} min", flush=True)
            run_loss, run_ce, run_dl, run_n, train_time_logged = 0.0, 0.0, 0.0, 0, train_time
    log_file.close()
    torch.save(model.state_dict(), os.path.join(args.out, "last.pt"))

    best = UNet3D()
    best.load_state_dict(torch.load(os.path.join(args.out, "best.pt"), map_location="cpu", weights_only=True))
    onnx_info = export_onnx(best, os.path.join(args.out, "flair_lesions.onnx"), seed=args.seed)
    wall = time.time() - t_start

    run = {
        "command": [os.path.basename(sys.executable)] + sys.argv,
        "git_commit": git_commit(),
        "seed": args.seed,
        "hyperparameters": {
            "iterations": args.iterations, "batch_size": BATCH, "patch_size": [PATCH] * 3,
            "optimizer": "Adam", "lr": args.lr, "lr_schedule": "poly (1 - it/iterations)^0.9, stepped per iteration",
            "loss": "cross-entropy + (1 - soft Dice of lesion class, pooled over batch, eps 1e-5)",
            "fg_fraction": args.fg_fraction, "fg_jitter_voxels": FG_JITTER, "pad_value": PAD,
            "augmentation": {"flip_prob_per_axis": 0.5, "intensity_scale": [0.9, 1.1],
                             "intensity_shift": [-0.1, 0.1], "noise_sigma": [0.0, 0.1]},
            "val_every": args.val_every, "window_overlap": WINDOW_OVERLAP, "gaussian_sigma": GAUSSIAN_SIGMA,
            "channels": list(CHANNELS), "threads": args.threads, "deterministic_algorithms": deterministic,
        },
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                     "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
        "platform": platform.platform(),
        "n_train_volumes": len(train_cases), "n_val_volumes": len(val_cases),
        "train_volumes": [c["name"] for c in train_cases], "val_volumes": [c["name"] for c in val_cases],
        "data_manifest": manifest,
        "iterations": args.iterations,
        "wall_time_s": round(wall, 1),
        "train_time_s": round(train_time, 1),
        "sec_per_iteration": round(train_time / args.iterations, 3),
        "best_val_dice": best_dice, "best_iteration": best_iter, "validation_history": val_history,
        "parameter_count": n_params,
        "onnx": onnx_info,
    }
    with open(os.path.join(args.out, "run.json"), "w") as f:
        json.dump(run, f, indent=2)
    print(f"done in {wall / 60:.1f} min; best val Dice {best_dice:.4f} @ {best_iter}; "
          f"{onnx_info['path']} {onnx_info['size_bytes']} bytes sha256 {onnx_info['sha256']}")


if __name__ == "__main__":
    main()
