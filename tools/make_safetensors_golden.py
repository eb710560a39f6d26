"""Write golden safetensors files with the Python `safetensors` library, for lithe's reader/writer tests.

Run: .venv/bin/python tools/make_safetensors_golden.py
Writes test/golden/safetensors/<case>.safetensors and <case>.json (the expected tensors and metadata).
BF16 is absent because numpy has no bfloat16; lithe's round-trip tests cover it.
"""

import json
import math
from pathlib import Path

import numpy as np
import safetensors
from safetensors.numpy import save_file

OUT = Path(__file__).resolve().parent.parent / "test" / "golden" / "safetensors"


def tensors():
    inf, nan = float("inf"), float("nan")
    return {
        # Names chosen so that name order and the library's dtype-then-name order disagree.
        "a.bool": np.array([[True, False, True], [False, False, True]], dtype=np.bool_),
        "b.f16": np.array([1.0, -2.5, 65504.0, 6e-8, -0.0, inf, -inf, nan], dtype=np.float16),
        "c.i64": np.array([0, 1, -1, 2**31 - 1, -(2**31), 123456789], dtype=np.int64).reshape(2, 3),
        "d.f32": np.array([[0.1, -3.5], [1e-40, 3.4028235e38], [inf, nan]], dtype=np.float32),
        "e.i32": np.array([2**31 - 1, -(2**31), 0, -7], dtype=np.int32),
        "f.u8": np.array([0, 1, 127, 128, 255], dtype=np.uint8),
        "g.f64": np.array([np.pi, -1e-300, 5e-324, -0.0], dtype=np.float64),
        "h.i8": np.array([-128, -1, 0, 127], dtype=np.int8),
        "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((2, 0), dtype=np.float32),
        "10": np.array([10], dtype=np.uint8),
        "9": np.array([9], dtype=np.uint8),
        # JSON escaping must match serde_json's: quotes, backslashes, control characters, non-ASCII left raw.
        'odd "name" \\ ü\n\t\x01': np.array([-1.0], dtype=np.float32),
    }


def encode(value):
    """JSON has no NaN or infinities: spell them as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def expected(arrays, metadata):
    out = {"safetensors_version": safetensors.__version__, "metadata": metadata or {}, "tensors": {}}
    for name, array in arrays.items():
        values = array.reshape(-1).tolist()
        out["tensors"][name] = {
            "dtype": array.dtype.name,
            "shape": list(array.shape),
            "values": [encode(float(v)) if array.dtype.kind == "f" else int(v) for v in values],
        }
    return out


def write_case(case, arrays, metadata):
    save_file(arrays, str(OUT / f"{case}.safetensors"), metadata=metadata)
    (OUT / f"{case}.json").write_text(json.dumps(expected(arrays, metadata), indent=1) + "\n")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    # transformers saves with {"format": "pt"}, which lithe always writes: this file must match lithe's byte for byte.
    write_case("all_dtypes", tensors(), {"format": "pt"})
    write_case("no_metadata", {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, None)
    # Several metadata keys come out in random order (a Rust HashMap), so this case is only read, never compared.
    write_case("metadata", {"x": np.array([1, 2], dtype=np.int64)}, {"format": "pt", "author": "lithe", "step": "42"})


if __name__ == "__main__":
    main()
