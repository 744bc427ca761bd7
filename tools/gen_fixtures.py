#!/usr/bin/python3
"""Golden fixtures for vkdl's composite kernels, computed by an independent implementation.

Every case draws its inputs with a fixed seed as float32 (so the values stored in the file are
exactly the ones PyTorch used), runs the op and its autograd backward in float64, and stores
everything as f32 (i32 for indices and integer parameters) in tests/data/<case>.bin, read by
tests/fixture.c and checked by tests/test_golden.c. Tensors are named after the vkdl API argument
they feed or come from; op parameters (stride, causal, eps, ...) are stored as small tensors too,
so a file describes its case completely.

File format (little-endian):
    magic   8 bytes  "VKDLFIX1"
    count   u32      number of tensors
    count times:
        name_len u32, name (name_len bytes of ASCII, no terminator)
        dtype    u32   vkdl_dtype code: 0 = f32, 3 = i32
        ndim     u32   0..8
        dims     ndim x i64
        data     numel x 4 bytes, row-major
    nothing after the last tensor.

Regenerate (needs PyTorch; written against Debian's 1.13, which has no
scaled_dot_product_attention, so attention is spelled out):
    /usr/bin/python3 tools/gen_fixtures.py [output directory, default tests/data]
"""

import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

MAGIC = b"VKDLFIX1"
DTYPE_CODES = {np.dtype(np.float32): 0, np.dtype(np.int32): 3}
MAX_FILE_BYTES = 200 * 1024

torch.set_num_threads(2)


def write_fixture(path, tensors):
    """tensors: list of (name, array-like); float data is stored as f32, integer data as i32."""
    out = bytearray(MAGIC)
    out += struct.pack("<I", len(tensors))
    seen = set()
    for name, value in tensors:
        assert name not in seen, name
        seen.add(name)
        if isinstance(value, torch.Tensor):
            value = value.detach().numpy()
        arr = np.asarray(value)
        arr = arr.astype(np.int32 if arr.dtype.kind in "iu" else np.float32)
        assert arr.ndim <= 8
        raw = name.encode("ascii")
        out += struct.pack("<I", len(raw)) + raw
        out += struct.pack("<II", DTYPE_CODES[arr.dtype], arr.ndim)
        out += struct.pack("<%dq" % arr.ndim, *arr.shape)
        out += np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
    assert len(out) < MAX_FILE_BYTES, (path, len(out))
    with open(path, "wb") as f:
        f.write(out)
    return len(out)


class Inputs:
    """Seeded f32 draws, returned as float64 tensors holding exactly those f32 values."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def normal(self, *shape, std=1.0):
        return torch.from_numpy((self.rng.standard_normal(shape) * std).astype(np.float32)).double()

    def uniform(self, lo, hi, *shape):
        return torch.from_numpy(self.rng.uniform(lo, hi, shape).astype(np.float32)).double()


def leaf(t):
    return t.clone().requires_grad_(True)


# ---------------------------------------------------------------- attention

def attention_case(seed, B, H, Hkv, Sq, Sk, D, causal, with_mask):
    g = Inputs(seed)
    q, k, v = leaf(g.normal(B, H, Sq, D)), leaf(g.normal(B, Hkv, Sk, D)), leaf(g.normal(B, Hkv, Sk, D))
    mask = g.uniform(-1.0, 1.0, Sq, Sk) if with_mask else None
    dout = g.normal(B, H, Sq, D)
    scale = 1.0 / math.sqrt(D)

    # grouped-query: query head h reads kv head h // (H / Hkv)
    kk = k.repeat_interleave(H // Hkv, dim=1)
    vv = v.repeat_interleave(H // Hkv, dim=1)
    s = torch.matmul(q, kk.transpose(-1, -2)) * scale
    if mask is not None:
        s = s + mask
    if causal:
        # bottom-right aligned: query i sees keys j <= i + (Sk - Sq)
        i = torch.arange(Sq).unsqueeze(1)
        j = torch.arange(Sk).unsqueeze(0)
        s = s.masked_fill(j > i + (Sk - Sq), float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    out = torch.matmul(torch.softmax(s, dim=-1), vv)
    (out * dout).sum().backward()

    tensors = [("q", q), ("k", k), ("v", v)]
    if mask is not None:
        tensors.append(("mask", mask))
    tensors += [("scale", [scale]), ("causal", np.array([int(causal)], np.int32)),
                ("dout", dout), ("out", out), ("lse", lse),
                ("dq", q.grad), ("dk", k.grad), ("dv", v.grad)]
    return tensors


# ---------------------------------------------------------------- LSTM / GRU

def rnn_case(cell, seed, T, B, I, H, final_grads):
    """One layer, batch_first=False. loss = sum(out * dout), plus sum(h_n * dh_n) (+ sum(c_n * dc_n))
    when final_grads, which vkdl takes as the optional dh_n / dc_n."""
    g = Inputs(seed)
    G = 4 if cell == "lstm" else 3
    bound = 1.0 / math.sqrt(H)
    x, h0 = leaf(g.normal(T, B, I)), leaf(g.normal(B, H, std=0.5))
    c0 = leaf(g.normal(B, H, std=0.5)) if cell == "lstm" else None
    w_ih, w_hh = g.uniform(-bound, bound, G * H, I), g.uniform(-bound, bound, G * H, H)
    b_ih, b_hh = g.uniform(-bound, bound, G * H), g.uniform(-bound, bound, G * H)
    dout = g.normal(T, B, H)
    dh_n = g.normal(B, H) if final_grads else None
    dc_n = g.normal(B, H) if final_grads and cell == "lstm" else None

    mod = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(I, H, num_layers=1, batch_first=False).double()
    with torch.no_grad():
        mod.weight_ih_l0.copy_(w_ih)
        mod.weight_hh_l0.copy_(w_hh)
        mod.bias_ih_l0.copy_(b_ih)
        mod.bias_hh_l0.copy_(b_hh)
    if cell == "lstm":
        out, (h_n, c_n) = mod(x, (h0.unsqueeze(0), c0.unsqueeze(0)))
        h_n, c_n = h_n[0], c_n[0]
    else:
        out, h_n = mod(x, h0.unsqueeze(0))
        h_n, c_n = h_n[0], None
    loss = (out * dout).sum()
    if dh_n is not None:
        loss = loss + (h_n * dh_n).sum()
    if dc_n is not None:
        loss = loss + (c_n * dc_n).sum()
    loss.backward()

    tensors = [("x", x), ("h0", h0)]
    if cell == "lstm":
        tensors.append(("c0", c0))
    tensors += [("w_ih", w_ih), ("w_hh", w_hh), ("b_ih", b_ih), ("b_hh", b_hh), ("dout", dout)]
    if dh_n is not None:
        tensors.append(("dh_n", dh_n))
    if dc_n is not None:
        tensors.append(("dc_n", dc_n))
    tensors += [("out", out), ("h_n", h_n)]
    if cell == "lstm":
        tensors.append(("c_n", c_n))
    tensors += [("dx", x.grad), ("dh0", h0.grad)]
    if cell == "lstm":
        tensors.append(("dc0", c0.grad))
    tensors += [("dw_ih", mod.weight_ih_l0.grad), ("dw_hh", mod.weight_hh_l0.grad),
                ("db_ih", mod.bias_ih_l0.grad), ("db_hh", mod.bias_hh_l0.grad)]
    return tensors


# ---------------------------------------------------------------- convolution

def conv_case(seed, transpose, N, C, O, HW, k, stride=1, pad=0, dil=1, groups=1, out_pad=0):
    g = Inputs(seed)
    x = leaf(g.normal(N, C, HW, HW))
    # conv2d: w[O, C/groups, k, k]; conv_transpose2d: w[C, O/groups, k, k] (PyTorch's layouts)
    wshape = (C, O // groups, k, k) if transpose else (O, C // groups, k, k)
    w, b = leaf(g.normal(*wshape, std=0.3)), leaf(g.normal(O, std=0.3))
    if transpose:
        out = F.conv_transpose2d(x, w, b, stride=stride, padding=pad, output_padding=out_pad,
                                 groups=groups, dilation=dil)
    else:
        out = F.conv2d(x, w, b, stride=stride, padding=pad, dilation=dil, groups=groups)
    dy = g.normal(*out.shape)
    (out * dy).sum().backward()
    i32 = lambda *v: np.array(v, np.int32)
    return [("x", x), ("w", w), ("bias", b),
            ("stride", i32(stride, stride)), ("padding", i32(pad, pad)), ("dilation", i32(dil, dil)),
            ("groups", i32(groups)), ("output_padding", i32(out_pad, out_pad)),
            ("transpose", i32(int(transpose))),
            ("dy", dy), ("out", out), ("dx", x.grad), ("dw", w.grad), ("dbias", b.grad)]


# ---------------------------------------------------------------- normalisation

def batchnorm_case(seed, shape, momentum=0.1, eps=1e-5):
    g = Inputs(seed)
    C = shape[1]
    x = leaf(g.normal(*shape, std=2.0) + 0.5)
    gamma, beta = leaf(g.uniform(0.5, 1.5, C)), leaf(g.normal(C))
    running_mean, running_var = g.normal(C, std=0.1), g.uniform(0.5, 2.0, C)
    dy = g.normal(*shape)
    rm, rv = running_mean.clone(), running_var.clone()
    out = F.batch_norm(x, rm, rv, gamma, beta, training=True, momentum=momentum, eps=eps)
    (out * dy).sum().backward()
    dims = [0] + list(range(2, len(shape)))
    save_mean = x.detach().mean(dim=dims)
    save_rstd = 1.0 / torch.sqrt(x.detach().var(dim=dims, unbiased=False) + eps)
    return [("x", x), ("gamma", gamma), ("beta", beta), ("running_mean", running_mean),
            ("running_var", running_var), ("momentum", [momentum]), ("eps", [eps]), ("dy", dy),
            ("out", out), ("running_mean_after", rm), ("running_var_after", rv),
            ("save_mean", save_mean), ("save_rstd", save_rstd),
            ("dx", x.grad), ("dgamma", gamma.grad), ("dbeta", beta.grad)]


def layernorm_case(seed, shape, eps=1e-5):
    g = Inputs(seed)
    D = shape[-1]
    x = leaf(g.normal(*shape, std=1.5) - 0.3)
    gamma, beta = leaf(g.uniform(0.5, 1.5, D)), leaf(g.normal(D))
    dy = g.normal(*shape)
    out = F.layer_norm(x, (D,), gamma, beta, eps=eps)
    (out * dy).sum().backward()
    rows = x.detach().reshape(-1, D)
    save_mean = rows.mean(dim=1)
    save_rstd = 1.0 / torch.sqrt(rows.var(dim=1, unbiased=False) + eps)
    return [("x", x), ("gamma", gamma), ("beta", beta), ("eps", [eps]), ("dy", dy), ("out", out),
            ("save_mean", save_mean), ("save_rstd", save_rstd),
            ("dx", x.grad), ("dgamma", gamma.grad), ("dbeta", beta.grad)]


# ---------------------------------------------------------------- cross-entropy

def cross_entropy_case(seed, N, C, n_ignored, ignore_index, label_smoothing, dloss):
    g = Inputs(seed)
    logits = leaf(g.normal(N, C, std=2.0))
    targets = g.rng.integers(0, C, N)
    targets[g.rng.choice(N, n_ignored, replace=False)] = ignore_index
    # mean over the rows that are not ignored, smoothing term included (PyTorch's definition)
    loss = F.cross_entropy(logits, torch.from_numpy(targets), ignore_index=ignore_index,
                           label_smoothing=label_smoothing, reduction="mean")
    (loss * dloss).backward()
    return [("logits", logits), ("targets", targets.astype(np.int32)),
            ("ignore_index", np.array([ignore_index], np.int32)),
            ("label_smoothing", [label_smoothing]), ("dloss", [dloss]),
            ("loss", loss.reshape(1)), ("dlogits", logits.grad)]


CASES = {
    "attention_basic": lambda: attention_case(101, B=2, H=2, Hkv=2, Sq=17, Sk=17, D=16, causal=False,
                                              with_mask=False),
    "attention_causal": lambda: attention_case(102, B=1, H=2, Hkv=2, Sq=33, Sk=33, D=64, causal=True,
                                               with_mask=False),
    "attention_gqa_mask": lambda: attention_case(103, B=2, H=4, Hkv=2, Sq=5, Sk=29, D=16, causal=True,
                                                 with_mask=True),
    "lstm_small": lambda: rnn_case("lstm", 201, T=5, B=3, I=4, H=6, final_grads=False),
    "lstm_unit": lambda: rnn_case("lstm", 202, T=1, B=1, I=1, H=1, final_grads=False),
    "lstm_final_grads": lambda: rnn_case("lstm", 203, T=3, B=2, I=3, H=5, final_grads=True),
    "gru_small": lambda: rnn_case("gru", 211, T=5, B=3, I=4, H=6, final_grads=False),
    "gru_unit": lambda: rnn_case("gru", 212, T=1, B=1, I=1, H=1, final_grads=False),
    "gru_final_grads": lambda: rnn_case("gru", 213, T=3, B=2, I=3, H=5, final_grads=True),
    "conv2d_stride2": lambda: conv_case(301, False, N=2, C=3, O=4, HW=9, k=3, stride=2, pad=1),
    "conv2d_groups_dilation": lambda: conv_case(302, False, N=2, C=4, O=6, HW=9, k=3, pad=2, dil=2, groups=2),
    "conv2d_depthwise": lambda: conv_case(303, False, N=2, C=5, O=5, HW=8, k=3, pad=1, groups=5),
    "conv_transpose2d": lambda: conv_case(304, True, N=2, C=4, O=3, HW=5, k=4, stride=2, pad=1, out_pad=1),
    "batchnorm2d": lambda: batchnorm_case(401, (4, 3, 5, 6)),
    "batchnorm1d": lambda: batchnorm_case(402, (9, 5)),
    "layernorm": lambda: layernorm_case(411, (3, 5, 40)),
    "cross_entropy_smooth_ignore": lambda: cross_entropy_case(501, N=13, C=7, n_ignored=3, ignore_index=-100,
                                                              label_smoothing=0.1, dloss=0.75),
    "cross_entropy_wide": lambda: cross_entropy_case(502, N=4, C=300, n_ignored=1, ignore_index=2,
                                                     label_smoothing=0.1, dloss=1.0),
}


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data")
    os.makedirs(out_dir, exist_ok=True)
    total = 0
    for name, build in CASES.items():
        with torch.random.fork_rng():
            torch.manual_seed(0)
            size = write_fixture(os.path.join(out_dir, name + ".bin"), build())
        total += size
        print("%-30s %7d bytes" % (name + ".bin", size))
    print("%-30s %7d bytes" % ("total", total))
    assert total < 2 * 1024 * 1024


if __name__ == "__main__":
    main()
