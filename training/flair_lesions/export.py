"""Export a UNet3D checkpoint to ONNX and check it against onnxruntime.

    python export.py --checkpoint OUT/best.pt --out OUT/flair_lesions.onnx
"""
import argparse
import hashlib
import os
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch

from model import PATCH, UNet3D

OPSET = 17
TOLERANCE = 1e-4
# Ops tract 0.23 runs; anything else in the graph is an error.
ALLOWED_OPS = {"Conv", "InstanceNormalization", "LeakyRelu", "MaxPool", "ConvTranspose", "Concat"}


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _drop_identities(proto: onnx.ModelProto) -> int:
    """Remove Identity nodes by rewiring their consumers to the Identity's input.

    The TorchScript exporter deduplicates bit-identical parameters (e.g. the
    all-ones InstanceNorm scales of an untrained net) through Identity nodes.
    """
    graph = proto.graph
    outputs = {o.name for o in graph.output}
    alias = {}
    for node in graph.node:
        if node.op_type == "Identity" and node.output[0] not in outputs:
            alias[node.output[0]] = node.input[0]
    keep = [n for n in graph.node if not (n.op_type == "Identity" and n.output[0] in alias)]
    for node in keep:
        for i, name in enumerate(node.input):
            while name in alias:
                name = alias[name]
            node.input[i] = name
    del graph.node[:]
    graph.node.extend(keep)
    return len(alias)


def export_onnx(model: UNet3D, path: str, seed: int = 0) -> dict:
    """Export `model` to `path` (opset 17, dynamic batch) and verify it.

    Returns a dict with the check results; raises if any check fails.
    """
    model = model.cpu().eval()
    dummy = torch.zeros(1, 1, PATCH, PATCH, PATCH)
    with warnings.catch_warnings():
        # InstanceNorm3d without running stats always uses input statistics; that is intended.
        warnings.filterwarnings("ignore", message=".*operator 'instance_norm' is set to train=True.*")
        torch.onnx.export(
            model,
            (dummy,),
            path,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "B"}, "logits": {0: "B"}},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,  # TorchScript exporter: plain, static graph
        )

    proto = onnx.load(path)
    if _drop_identities(proto):
        onnx.save(proto, path)
    onnx.checker.check_model(proto, full_check=True)
    ops = sorted({n.op_type for n in proto.graph.node})
    bad = [op for op in ops if op not in ALLOWED_OPS]
    if bad:
        raise RuntimeError(f"ONNX graph uses ops outside the tract set: {bad}")

    # onnxruntime must reproduce PyTorch on a random input (batch 2 exercises the dynamic axis).
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((2, 1, PATCH, PATCH, PATCH), dtype=np.float32))
    with torch.no_grad():
        ref = model(x).numpy()
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (out,) = sess.run(["logits"], {"input": x.numpy()})
    if out.shape != ref.shape:
        raise RuntimeError(f"ORT output shape {out.shape} != torch {ref.shape}")
    max_abs_diff = float(np.max(np.abs(out - ref)))
    print(f"[export] ORT vs torch max abs difference: {max_abs_diff:.3e} (tolerance {TOLERANCE:g})")
    if not max_abs_diff <= TOLERANCE:
        raise RuntimeError(f"ORT/torch mismatch {max_abs_diff:.3e} > {TOLERANCE:g}")

    info = {
        "path": os.path.basename(path),
        "sha256": sha256_file(path),
        "size_bytes": os.path.getsize(path),
        "opset": OPSET,
        "ops": ops,
        "input": {"name": "input", "shape": ["B", 1, PATCH, PATCH, PATCH], "dtype": "float32"},
        "output": {"name": "logits", "shape": ["B", 2, PATCH, PATCH, PATCH], "dtype": "float32",
                   "classes": ["background", "lesion"]},
        "ort_vs_torch_max_abs_diff": max_abs_diff,
    }
    print(f"[export] wrote {path}: {info['size_bytes']} bytes, sha256 {info['sha256']}, ops {ops}")
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="state_dict saved by train.py (best.pt)")
    ap.add_argument("--out", required=True, help="output .onnx path")
    args = ap.parse_args()
    model = UNet3D()
    model.load_state_dict(torch.load(args.checkpoint, map_location="cpu", weights_only=True))
    export_onnx(model, args.out)


if __name__ == "__main__":
    main()
