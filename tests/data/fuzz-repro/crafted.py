"""The crafted_*.mote reproducers of issue #14, made from the project's own examples
(run from the repository root: PYTHONPATH=host python tests/data/fuzz-repro/crafted.py).
Each breaks one rule that no fuzzed file had found broken; tests/device/test_fuzz.py checks that
the host and every device backend refuse them with the same message."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from motes import codecs
from motes import format as F

HERE = Path(__file__).parent
ROOT = HERE.parents[2]


def _model(name: str) -> F.MoteModel:
    return F.from_bytes((ROOT / "examples" / name).read_bytes(), decode=False)


def input_norm_std_zero() -> bytes:
    """soil.mote with an input_norm whose std has a 0 (a division by zero on the board)."""
    m = _model("soil_moisture/soil.mote")
    m.meta = dict(m.meta, input_norm={"mean": [34960.0, 21.0, 55.19, 2.757], "std": [4113.0, 0, 13.15, 1350.0]})
    return F.to_bytes(m)


def huffman_shift_out_of_range() -> bytes:
    """digits.mote whose FULLY_CONNECTED shifts (Huffman-coded) hold 40, above 31."""
    m = _model("digits/digits.mote")
    pc = m.packed[5]["shift"]
    assert pc.codec == 1
    v = pc.decode().copy()
    v[3] = 40
    pc.payload = codecs.by_id(1).encode(v)
    return F.to_bytes(m)


def huffman_stray_byte() -> bytes:
    """digits.mote whose second CONV_2D's Huffman-coded weights have one byte after the last value."""
    m = _model("digits/digits.mote")
    pc = m.packed[2]["weights"]
    assert pc.codec == 1
    pc.payload += b"\x5a"
    return F.to_bytes(m)


def huffman_truncated() -> bytes:
    """digits.mote whose second CONV_2D's Huffman-coded weights lack their last byte."""
    m = _model("digits/digits.mote")
    pc = m.packed[2]["weights"]
    pc.payload = pc.payload[:-1]
    return F.to_bytes(m)


def huffman_bad_code_table() -> bytes:
    """digits.mote whose second CONV_2D's Huffman code table gives three symbols 1-bit codes
    (over-subscribed: n = 3, SET 1, SAME, SAME, then 4 zero padding bits)."""
    m = _model("digits/digits.mote")
    pc = m.packed[2]["weights"]
    pc.payload = bytes([2, 0b11111100, 0b01000000]) + pc.payload[3:]
    return F.to_bytes(m)


def huffman_code_table_cut_short() -> bytes:
    """digits.mote whose second CONV_2D's Huffman payload ends inside its code table (its
    first two bytes only): the C decoder said "bad code table", the others "truncated"."""
    m = _model("digits/digits.mote")
    pc = m.packed[2]["weights"]
    pc.payload = pc.payload[:2]
    return F.to_bytes(m)


def zerorun_value_0() -> bytes:
    """digits.mote whose second CONV_2D's weights are zero-run coded with one-symbol tables for
    runs and values, both symbol 0: runs of no zeros, then the value 0, which the codec never
    writes (a zero is part of a run)."""
    m = _model("digits/digits.mote")
    pc = m.packed[2]["weights"]
    pc.codec, pc.payload = 2, bytes(4)
    return F.to_bytes(m)


FILES = {"crafted_input_norm_std_zero.mote": input_norm_std_zero,
         "crafted_huffman_shift_40.mote": huffman_shift_out_of_range,
         "crafted_huffman_weights_stray_byte.mote": huffman_stray_byte,
         "crafted_huffman_weights_truncated.mote": huffman_truncated,
         "crafted_huffman_bad_code_table.mote": huffman_bad_code_table,
         "crafted_huffman_code_table_cut_short.mote": huffman_code_table_cut_short,
         "crafted_zerorun_value_0.mote": zerorun_value_0}

if __name__ == "__main__":
    for name, make in FILES.items():
        (HERE / name).write_bytes(make())
        print(name)
