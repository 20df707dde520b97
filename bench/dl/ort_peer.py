"""The peer of bench/dl/dl.rs: ONNX Runtime (PyPI wheel) on the same ONNX file and the same
patches, in the same batches. Prints the seconds the network took over all patches (session
creation and file reading excluded, as on corelab's side)."""
import sys
import time

import numpy as np
import onnxruntime as ort

model, patches, batch, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
x = np.load(patches)
options = ort.SessionOptions()
options.intra_op_num_threads = threads
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
name = session.get_inputs()[0].name
started = time.perf_counter()
for i in range(0, len(x), batch):
    chunk = x[i : i + batch]
    if len(chunk) < batch:  # the last batch filled up, as corelab does
        chunk = np.concatenate([chunk, np.zeros((batch - len(chunk),) + chunk.shape[1:], np.float32)])
    session.run(None, {name: chunk})
print(time.perf_counter() - started)
