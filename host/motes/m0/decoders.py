"""The entropy decoders of ulab_kernels/huffman.c (codecs 1 and 2) on the emulated M0, fed in chunks.

    huffman_decode(), zerorun_decode() -> DecodeResult
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cpu import HUFF_TABLE_BYTES, M0, M0Fault
from .harness import MK_STATUS, _i32


@dataclass
class DecodeResult:
    values: np.ndarray
    table_instructions: int       # building the code table(s)
    decode_instructions: int      # decoding the values
    calls: int


def _build_table(emu: M0, data_addr: int, left: int, zigzag: int) -> tuple[int, int, int]:
    t = emu.alloc(getattr(emu, "layout", {}).get(50, HUFF_TABLE_BYTES))
    used = emu.alloc(4)
    size = min(emu.layout.get(55, 321), left)
    st, n = emu.call("mk_huff_table_build", t, data_addr, size, zigzag, used)
    if st != 0:
        raise M0Fault(f"mk_huff_table_build returned {MK_STATUS.get(st, st)}", kind="status")
    return t, int(emu.read(used, (), np.int32)), n


def _chunked_decode(emu: M0, call, stream_addr: int, stream_len: int, count: int,
                    chunk: int | None, out_piece: int | None) -> tuple[int, int, int]:
    """Feed the stream in chunks of `chunk` bytes, asking for `out_piece` values at a time."""
    out = emu.alloc(max(count, 1))
    pos = emu.alloc(4)
    chunk = chunk or max(stream_len, 1)
    piece = out_piece or max(count, 1)
    done = instr = calls = 0
    start = 0
    stalls = 0
    while done < count:
        size = min(chunk, stream_len - start)
        emu.uc.mem_write(pos, b"\0\0\0\0")
        while done < count:
            want = min(piece, count - done)
            got, n = call(stream_addr + start, size, pos, out + done, want)
            instr += n
            calls += 1
            if got < 0:
                raise M0Fault(f"decoder returned {MK_STATUS.get(got, got)} after {done} of {count} "
                              "values", kind="status")
            done += got
            if got < want:
                break
        consumed = int(emu.read(pos, (), np.int32))
        start += consumed
        stalls = stalls + 1 if consumed == 0 else 0
        if done < count and (start >= stream_len or stalls > 2):
            raise M0Fault(f"decoder stopped after {done} of {count} values (stream used up)", kind="status")
    return out, instr, calls


def huffman_decode(emu: M0, payload: bytes, count: int, chunk: int | None = None,
                   out_piece: int | None = None) -> DecodeResult:
    """Decode a codec-1 payload on the M0: mk_huff_table_build, then mk_huff_decode."""
    emu.reset()
    payload = bytes(payload)
    data = emu.put(payload + b"\0" * 4, const=True)
    t, used, n_table = _build_table(emu, data, len(payload), 1)
    br = emu.alloc(8)

    def call(addr, size, pos, out, n):
        return emu.call("mk_huff_decode", t, br, addr, size, pos, out, n)
    out, n_dec, calls = _chunked_decode(emu, call, data + used, len(payload) - used, count, chunk, out_piece)
    return DecodeResult(emu.read(out, (count,)), n_table, n_dec, calls)


def zerorun_decode(emu: M0, payload: bytes, count: int, chunk: int | None = None,
                   out_piece: int | None = None) -> DecodeResult:
    """Decode a codec-2 payload on the M0: two mk_huff_table_build, then mk_zrun_decode."""
    emu.reset()
    payload = bytes(payload)
    data = emu.put(payload + b"\0" * 4, const=True)
    runs, used1, n1 = _build_table(emu, data, len(payload), 0)
    values, used2, n2 = _build_table(emu, data + used1, len(payload) - used1, 1)
    used = used1 + used2
    state = emu.put(_i32(0, 0, 0, 0, count))

    def call(addr, size, pos, out, n):
        return emu.call("mk_zrun_decode", runs, values, state, addr, size, pos, out, n)
    out, n_dec, calls = _chunked_decode(emu, call, data + used, len(payload) - used, count, chunk, out_piece)
    return DecodeResult(emu.read(out, (count,)), n1 + n2, n_dec, calls)
