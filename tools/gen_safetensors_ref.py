#!/usr/bin/env python3
"""Write tests/data/safetensors_ref.safetensors, the reference-format file test_safetensors reads.

Built with json + struct only, independently of vkdl's writer, and deliberately unlike it: the
header keys are not sorted, the data is not in header order, the header is not padded, json.dumps
puts spaces after separators and escapes non-ASCII names as \\uXXXX (one needs a surrogate pair),
and __metadata__ holds more than "format". The expected values are in test_safetensors.c.
"""
import json
import os
import struct

F32_VALUES = [1.5, -2.0, 0.25, 3.0, -0.125, 1e-3]


def f32(vals):
    return struct.pack("<%df" % len(vals), *vals)


def f16(vals):
    return struct.pack("<%de" % len(vals), *vals)


def bf16(vals):
    # The values are exact in bf16, so truncating the f32 bits is exact.
    return b"".join(struct.pack("<I", struct.unpack("<I", struct.pack("<f", v))[0])[2:] for v in vals)


# (name, dtype, shape, bytes), in the order the data is laid out.
TENSORS = [
    ("z.weight", "F32", [2, 3], f32(F32_VALUES)),
    ("emb.\u00e9", "F16", [4], f16([0.5, -1.0, 65504.0, 2.0 ** -24])),
    ("a.bias", "BF16", [2, 2], bf16([1.0, -3.5, 256.0, 0.0078125])),
    ("count", "I32", [3], struct.pack("<3i", 7, -2147483648, 2147483647)),
    ("mask \U0001F600", "U8", [5], bytes([0, 1, 127, 128, 255])),
    ("scalar", "F32", [], f32([42.0])),
    ("empty", "F32", [0, 3], b""),
]
HEADER_ORDER = ["count", "__metadata__", "z.weight", "empty", "mask \U0001F600", "scalar", "a.bias", "emb.\u00e9"]


def main():
    entries, data = {}, b""
    for name, dtype, shape, raw in TENSORS:
        entries[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    entries["__metadata__"] = {"format": "pt", "note": "caf\u00e9 \"q\"", "nested": "{[1]}"}
    header = json.dumps({k: entries[k] for k in HEADER_ORDER}).encode("utf-8")
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data",
                       "safetensors_ref.safetensors")
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + data)


if __name__ == "__main__":
    main()
