"""The device decoders (device/motes/decode.py, huff.py) in the real MicroPython.

Arrays are encoded on the host with every codec (motes.codecs), their payloads
written into one file, and the unix-port `micropython` decodes them with
decode_all and with RowStreams read in irregular chunk sizes, several streams
interleaved so that each must seek back to its own place. Results must equal
the host arrays exactly. Corrupt payloads must raise MoteError (never another
exception or a hang). Many arrays go through one micropython process.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'host'))

from motes.codecs import CODECS, CodecError  # noqa: E402
from motes.codecs.bits import RUN_ORDER, VALUE_ORDER, CodeTable  # noqa: E402
from motes.run.mpy_engine import micropython_path  # noqa: E402

DEVICE = ROOT / 'device'
DTYPE_CODE = {np.dtype(np.int8): 0, np.dtype(np.uint8): 1, np.dtype(np.int16): 2, np.dtype(np.int32): 3}
CODE_DTYPE = {0: np.int8, 1: np.uint8, 2: np.int16, 3: np.int32}
RAW, HUFFMAN, ZERORUN, RICE, BITPACK = range(5)
CHUNKS = [1, 7, 64, 1000, 3, 250]

# Decodes every case of a manifest: decode_all into `out`, then all cases at once
# through RowStreams, round-robin, one piece per stream per turn (pieces cycle
# through each case's chunk list), compared with decode_all. Prints one JSON line
# per case: [decode_all result, RowStream result], each "ok" or [type, message].
_SCRIPT = r"""
import sys, json
sys.path.insert(0, {device!r})
from motes.decode import decode_all, RowStream
from motes.structs import Const

cases = json.load(open({manifest!r}))
f = open({payloads!r}, "rb")
out = open({out!r}, "wb")
res = []
alls = []
for c in cases:
    ref = Const(c["codec"], c["dtype"], (c["n"],), c["pos"], c["size"], c["n"])
    try:
        a = decode_all(f, ref)
        if len(a) != c["n"]:
            raise AssertionError("decode_all gave %d values" % len(a))
        out.write(a)
        res.append(["ok", "ok"])
        alls.append(a)
    except Exception as e:
        res.append([[type(e).__name__, str(e)], "ok"])
        alls.append(None)
out.close()

streams = []
for k, c in enumerate(cases):
    ch = c["chunks"]
    ref = Const(c["codec"], c["dtype"], (c["n"],), c["pos"], c["size"], c["n"])
    try:
        s = RowStream(f, ref, max(ch))
    except Exception as e:
        s = None
        res[k][1] = [type(e).__name__, str(e)]
    streams.append([s, 0, 0])   # stream, values done, piece index
busy = True
while busy:
    busy = False
    for k, c in enumerate(cases):
        st = streams[k]
        s = st[0]
        if s is None or st[1] >= c["n"]:
            continue
        busy = True
        ch = c["chunks"]
        m = min(ch[st[2] % len(ch)], c["n"] - st[1])
        st[2] += 1
        try:
            b = s.next(m)
        except Exception as e:
            st[0] = None
            res[k][1] = [type(e).__name__, str(e)]
            continue
        a = alls[k]
        o = st[1]
        if a is not None:
            for i in range(m):
                if b[i] != a[o + i]:
                    res[k][1] = ["mismatch", "value %d: %d != %d" % (o + i, b[i], a[o + i])]
                    st[0] = None
                    break
        st[1] += m
for r in res:
    print(json.dumps(r))
print("DONE")
"""


def run_cases(cases, timeout=120, native=False):
    """cases: dicts with codec, dtype (code), n, payload, chunks, expect ('ok'/'error'/'any').

    native=True runs the x64 build of the runtime, whose motes_native decodes
    int8 huffman and zerorun arrays in C (dec_native.py).

    Returns (results, decoded): results[i] is [decode_all result, RowStream result],
    each "ok" or [error type, message]; decoded[i] is the decode_all array, if any.
    """
    blob = bytearray()
    manifest = []
    for i, c in enumerate(cases):
        blob += bytes([0xA5, i & 0xFF, 0x5A])        # junk between payloads
        manifest.append({'codec': c['codec'], 'dtype': c['dtype'], 'n': c['n'], 'pos': len(blob),
                         'size': len(c['payload']) + c.get('size_extra', 0), 'chunks': c.get('chunks', CHUNKS),
                         'expect': c.get('expect', 'ok')})
        blob += c['payload']
    blob += bytes([0xFF]) * 8    # reading past a payload would see ones, not zeros
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = {k: str(tmp / k) for k in ('manifest', 'payloads', 'out')}
        (tmp / 'manifest').write_text(json.dumps(manifest))
        (tmp / 'payloads').write_bytes(bytes(blob))
        script = tmp / 'run.py'
        if native:
            from motes.board import device_build
            device = device_build.build("x64")
            assert (device / "motes_native.mpy").exists()
        else:
            device = DEVICE
        script.write_text(_SCRIPT.format(device=str(device), **paths))
        proc = subprocess.run([micropython_path(), '-X', 'heapsize=64M', str(script)], capture_output=True,
                              text=True, timeout=timeout, env=dict(os.environ, MICROPYPATH=''))
        lines = proc.stdout.splitlines()
        assert proc.returncode == 0 and lines and lines[-1] == 'DONE', proc.stdout[-3000:] + proc.stderr[-3000:]
        results = [json.loads(ln) for ln in lines[:-1]]
        data = (tmp / 'out').read_bytes()
    decoded, off = [], 0
    for c, r in zip(cases, results):
        if r[0] == 'ok':
            dt = np.dtype(CODE_DTYPE[c['dtype']])
            size = c['n'] * dt.itemsize
            decoded.append(np.frombuffer(data[off:off + size], dtype=dt))
            off += size
        else:
            decoded.append(None)
    assert off == len(data)
    return results, decoded


# -- test arrays -----------------------------------------------------------

def q8(x):
    return np.round(np.clip(x, -128, 127)).astype(np.int8)


def int8_arrays():
    rng = np.random.default_rng(1)
    sparse = q8(rng.normal(0, 30, 6000)) * (rng.random(6000) > 0.9)
    very_sparse = np.zeros(5000, np.int8)
    very_sparse[[0, 254, 510, 511, 1700, 4999]] = [3, -1, 127, -128, 9, 1]
    runs = np.zeros(2600, np.int8)   # runs of 254, 255, 256, 509, 510, 511 zeros, 299 trailing
    at = 0
    for gap in (254, 255, 256, 509, 510, 511):
        at += gap
        runs[at] = 7 if gap % 2 else -7
        at += 1
    return {
        'normal': q8(rng.normal(0, 25, 20000)),
        'normal_narrow': q8(rng.normal(0, 4, 5000)),
        'laplace': q8(rng.laplace(0, 12, 20000)),
        'laplace_long_codes': q8(rng.laplace(0, 3, 30000)),    # codes of 10..12 bits
        'geometric_skew': q8(np.minimum(rng.geometric(0.35, 8000) - 1, 127) * rng.choice([-1, 1], 8000)),
        'sparse90': sparse.astype(np.int8),
        'very_sparse': very_sparse,
        'runs': runs,
        'zeros': np.zeros(3000, np.int8),
        'zeros255': np.zeros(255, np.int8),
        'zeros510': np.zeros(510, np.int8),
        'trailing300': np.r_[np.zeros(256), [1], np.zeros(300)].astype(np.int8),
        'single_symbol': np.full(4000, -5, np.int8),
        'single_min': np.full(17, -128, np.int8),
        'two_symbols': rng.choice(np.array([-128, 127], np.int8), 999),
        'all256_ramp': np.arange(-128, 128).astype(np.int8),
        'all256_uniform': rng.integers(-128, 128, 3000).astype(np.int8),
        'empty': np.zeros(0, np.int8),
        'one': np.array([-77], np.int8),
        'one_zero': np.array([0], np.int8),
        'shifts': rng.integers(-10, 3, 96).astype(np.int8),
        'spec_example': np.array([3, 3, -1, 0, 3, 5, 3, 0], np.int8),
        'spec_zerorun': np.array([0, 0, 7, 0, 0, 0, 0, -2, 7, 0, 0], np.int8),
    }


def wide_arrays():
    rng = np.random.default_rng(2)
    i32 = np.iinfo(np.int32)
    return {
        'bias': np.round(rng.normal(0, 3000, 500)).astype(np.int32),
        'bias_wide': np.round(rng.normal(0, 4e6, 300)).astype(np.int32),
        'multipliers': rng.integers(1 << 30, 1 << 31, 200).astype(np.int32),
        'multipliers_close': (1518500250 + rng.integers(-3000, 3000, 64)).astype(np.int32),
        'extremes': np.array([i32.min, i32.max, 0, i32.min, i32.max, -1, 1], np.int32),
        'full_range': rng.integers(i32.min, i32.max, 300, endpoint=True).astype(np.int32),
        'max_only': np.full(5, i32.max, np.int32),
        'min_only': np.full(5, i32.min, np.int32),
        'outliers': np.r_[np.zeros(100), [2 ** 31 - 1, -2 ** 31, 123456789], rng.integers(-5, 5, 50)].astype(np.int32),
        'int32_one': np.array([-2 ** 31], np.int32),
        'int32_empty': np.zeros(0, np.int32),
        'int16': rng.integers(-32768, 32768, 400).astype(np.int16),
        'int16_narrow': rng.integers(-300, 300, 400).astype(np.int16),
        'int16_extremes': np.array([-32768, 32767, 0, -1], np.int16),
    }


def cases_for(arrays, codec_ids, chunks=CHUNKS):
    cases, expected = [], []
    for name, arr in arrays.items():
        for cid in codec_ids:
            codec = CODECS[cid]
            if not codec.supports(arr.dtype):
                continue
            payload = codec.encode(arr)
            cases.append({'codec': cid, 'dtype': DTYPE_CODE[arr.dtype], 'n': arr.size, 'payload': payload,
                          'chunks': chunks, 'name': '%s/%s' % (name, codec.name)})
            expected.append(arr)
    return cases, expected


def check_ok(cases, expected, results, decoded):
    bad = []
    for c, arr, r, d in zip(cases, expected, results, decoded):
        if r != ['ok', 'ok']:
            bad.append((c['name'], r))
        elif not np.array_equal(d, arr):
            first = int(np.flatnonzero(d != arr)[0])
            bad.append((c['name'], 'value %d: %d != %d' % (first, d[first], arr[first])))
    assert not bad, bad


# -- exact decoding --------------------------------------------------------

def test_int8_all_codecs():
    arrays = int8_arrays()
    cases, expected = cases_for(arrays, [RAW, HUFFMAN, ZERORUN, RICE, BITPACK])
    # codes longer than the 9-bit (huffman) and 8-bit (zerorun) lookups take the slow path
    for name in ('normal', 'laplace_long_codes', 'sparse90'):
        arr = arrays[name]
        huff = CodeTable.parse(CODECS[HUFFMAN].encode(arr), 0, VALUE_ORDER)[0]
        assert (huff.lengths_by_symbol()[arr.view(np.uint8)] > 8).sum() > 10
    zr = CODECS[ZERORUN].encode(arrays['sparse90'])
    runs, end = CodeTable.parse(zr, 0, RUN_ORDER)
    values = CodeTable.parse(zr, end, VALUE_ORDER)[0]
    assert runs.max_len > 8 and values.max_len > 8
    check_ok(cases, expected, *run_cases(cases))


def test_int8_native_decoders_interleaved():
    # dec_native lends one set of code tables to whichever decoder reads: the
    # round-robin RowStreams switch decoders at every piece, so each must
    # rebuild its tables, and keep its place in its own payload
    arrays = int8_arrays()
    for chunks in (CHUNKS, [4096]):
        cases, expected = cases_for(arrays, [HUFFMAN, ZERORUN], chunks)
        check_ok(cases, expected, *run_cases(cases, native=True))


def test_wide_ints_all_codecs():
    cases, expected = cases_for(wide_arrays(), [RAW, RICE, BITPACK])
    check_ok(cases, expected, *run_cases(cases))


def test_random_arrays_and_chunkings():
    rng = np.random.default_rng(3)
    arrays = {}
    for i in range(40):
        n = int(rng.integers(1, 3000))
        kind = i % 5
        if kind == 0:
            a = q8(rng.normal(0, rng.uniform(1, 60), n))
        elif kind == 1:
            a = q8(rng.laplace(0, rng.uniform(0.5, 20), n))
        elif kind == 2:
            a = q8(rng.normal(0, 20, n)) * (rng.random(n) > rng.uniform(0.5, 0.999))
        elif kind == 3:
            a = rng.integers(-2 ** 31, 2 ** 31, n).astype(np.int32) >> int(rng.integers(0, 31))
        else:
            a = (rng.integers(-3, 4, n) * int(rng.integers(1, 9000))).astype(np.int16)
        arrays['random%d' % i] = np.asarray(a).astype(a.dtype)
    for chunks in ([1], [2, 5, 13], [4096], [37, 1, 999]):
        cases, expected = cases_for(arrays, [HUFFMAN, ZERORUN, RICE, BITPACK], chunks)
        check_ok(cases, expected, *run_cases(cases))


# -- corrupt payloads ------------------------------------------------------

class BitWriter:
    def __init__(self):
        self.bits = []

    def put(self, value, width):
        self.bits += [(value >> (width - 1 - i)) & 1 for i in range(width)]
        return self

    def bytes(self):
        bits = self.bits + [0] * (-len(self.bits) % 8)
        return bytes(int(''.join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))


def table(*tokens):
    """Code-length table bytes from (m, [(token kind, field), ...])."""
    m, toks = tokens
    w = BitWriter()
    prefix = {'SAME': (0, 1), 'UP': (2, 2), 'DOWN': (6, 3), 'REPEAT': (14, 4), 'ABSENT': (30, 5),
              'SKIP': (62, 6), 'SET': (63, 6)}
    field = {'REPEAT': 6, 'SKIP': 8, 'SET': 4}
    for kind, value in toks:
        w.put(*prefix[kind])
        if kind in field:
            w.put(value, field[kind])
    return bytes([m]) + w.bytes()


def svarint(v):
    u = 2 * v if v >= 0 else -2 * v - 1
    out = bytearray()
    while u >= 0x80:
        out.append(0x80 | (u & 0x7F))
        u >>= 7
    out.append(u)
    return bytes(out)


TWO_SYMBOLS = table(1, [('SET', 1), ('SAME', 0)])    # 0 -> '0', -1 -> '1'


def crafted_corrupt():
    """(name, codec, dtype, n, payload) that a decoder must reject."""
    i8, i16, i32 = 0, 2, 3
    return [
        ('kraft incomplete', HUFFMAN, i8, 4, table(1, [('SET', 1), ('UP', 0)]) + b'\x00'),
        ('kraft oversubscribed', HUFFMAN, i8, 4, table(2, [('SET', 1), ('SAME', 0), ('SAME', 0)]) + b'\x00'),
        ('length 13', HUFFMAN, i8, 4, table(1, [('SET', 13), ('SAME', 0)]) + b'\x00'),
        ('length 0 by SET', HUFFMAN, i8, 4, table(1, [('SET', 0), ('SAME', 0)]) + b'\x00'),
        ('length 0 by DOWN', HUFFMAN, i8, 4, table(1, [('SET', 1), ('DOWN', 0)]) + b'\x00'),
        ('length 13 by UP', HUFFMAN, i8, 4, table(1, [('SET', 12), ('UP', 0)]) + b'\x00'),
        ('repeat overshoot', HUFFMAN, i8, 4, table(3, [('REPEAT', 0)]) + b'\x00'),
        ('skip overshoot', HUFFMAN, i8, 4, table(3, [('SET', 1), ('SKIP', 0)]) + b'\x00'),
        ('table truncated', HUFFMAN, i8, 4, table(255, [('REPEAT', 63)] * 3)[:3]),
        ('single form truncated', HUFFMAN, i8, 4, b'\x00'),
        ('empty payload', HUFFMAN, i8, 1, b''),
        ('stream truncated', HUFFMAN, i8, 40, TWO_SYMBOLS + b'\xff'),
        ('trailing bytes', HUFFMAN, i8, 8, TWO_SYMBOLS + b'\x55\x00'),
        ('nonzero padding', HUFFMAN, i8, 4, TWO_SYMBOLS + b'\x5f'),
        ('single form with stream', HUFFMAN, i8, 4, b'\x00\x05\x00'),
        ('payload for 0 values', HUFFMAN, i8, 0, b'\x00\x05'),
        ('huffman int32', HUFFMAN, i32, 4, b'\x00\x05'),
        ('zerorun int16', ZERORUN, i16, 4, b'\x00\x00\x00\x01'),
        ('zerorun value 0', ZERORUN, i8, 4, b'\x00\x00' + TWO_SYMBOLS + b'\x00'),
        ('zerorun overshoot', ZERORUN, i8, 100, b'\x00\xff\x00\x01'),
        ('zerorun run overshoot', ZERORUN, i8, 10, b'\x00\x0b\x00\x01'),
        ('zerorun truncated', ZERORUN, i8, 1000, TWO_SYMBOLS + b'\x00\x01' + b'\x00'),
        ('zerorun no value table', ZERORUN, i8, 10, b'\x00\x00'),
        ('rice k too big int8', RICE, i8, 2, svarint(0) + b'\x08\x00'),
        ('rice k too big int32', RICE, i32, 2, svarint(0) + b'\x20\x00'),
        ('rice base out of int8', RICE, i8, 2, svarint(128) + b'\x00\x00'),
        ('rice base out of int32', RICE, i32, 2, svarint(2 ** 31) + b'\x00\x00'),
        ('rice base varint too long', RICE, i32, 2, b'\x80\x80\x80\x80\x80\x01\x00\x00'),
        ('rice no k', RICE, i32, 2, svarint(5)),
        ('rice escape truncated', RICE, i32, 1, svarint(0) + b'\x00\xff\x00'),
        ('rice escape for short', RICE, i32, 1, svarint(0) + b'\x00\xff\x00\x00\x00\x03'),
        ('rice uint8', RICE, 1, 2, svarint(0) + b'\x00\x00'),
        ('rice trailing', RICE, i16, 3, svarint(0) + b'\x00\x00\x00'),
        ('bitpack width > 8', BITPACK, i8, 2, svarint(0) + b'\x09\x00\x00\x00'),
        ('bitpack width > 32', BITPACK, i32, 2, svarint(0) + b'\x21' + bytes(9)),
        ('bitpack value > int8', BITPACK, i8, 2, svarint(100) + b'\x08\x00\xff'),
        ('bitpack value > int32', BITPACK, i32, 1, svarint(2 ** 31 - 1) + b'\x01\x80'),
        ('bitpack value > int32 wide', BITPACK, i32, 1, svarint(1) + b'\x20\xff\xff\xff\xff'),
        ('bitpack truncated', BITPACK, i16, 10, svarint(0) + b'\x10\x00\x01'),
        ('bitpack no width', BITPACK, i16, 10, svarint(-3)),
        ('bitpack float', BITPACK, 4, 1, svarint(0) + b'\x00'),
        ('unknown codec', 9, i8, 1, b'\x00'),
    ]


def test_corrupt_payloads_raise_moteerror():
    cases = [{'codec': c, 'dtype': d, 'n': n, 'payload': p, 'expect': 'error', 'name': name}
             for name, c, d, n, p in crafted_corrupt()]
    # every real payload cut short, or asked for more values than it holds
    arrays = dict(int8_arrays(), **wide_arrays())
    for name, arr in arrays.items():
        if arr.size == 0:
            continue
        for cid in (HUFFMAN, ZERORUN, RICE, BITPACK):
            codec = CODECS[cid]
            if not codec.supports(arr.dtype):
                continue
            payload = codec.encode(arr)
            base = {'codec': cid, 'dtype': DTYPE_CODE[arr.dtype], 'expect': 'error'}
            for cut in sorted({1, len(payload) // 2, len(payload) - 1}):
                if 0 < cut < len(payload):
                    cases.append(dict(base, n=arr.size, payload=payload[:cut], name='%s/%s cut %d' % (
                        name, codec.name, cut)))
            for more in (1, 8):
                # more values than encoded: usually an error, but not always (zero codes may
                # fit in the padding bits, a zero-bit code has no stream): ask the reference
                try:
                    codec.decode(payload, arr.size + more, arr.dtype)
                    expect = 'ok'
                except CodecError:
                    expect = 'error'
                cases.append(dict(base, n=arr.size + more, payload=payload, expect=expect,
                                  name='%s/%s n+%d' % (name, codec.name, more)))
    # the last payload claims more bytes than the file has
    cases.append({'codec': HUFFMAN, 'dtype': 0, 'n': 5000, 'payload': TWO_SYMBOLS + bytes(40),
                  'size_extra': 4000, 'expect': 'error', 'name': 'past the end of the file'})
    results, _ = run_cases(cases)
    bad = [(c['name'], r) for c, r in zip(cases, results)
           if (r[0][0] != 'MoteError' or r[1][0] != 'MoteError') if c['expect'] == 'error'
           or r != ['ok', 'ok'] if c['expect'] == 'ok']
    assert sum(c['expect'] == 'error' for c in cases) > 200
    assert not bad, bad


def test_random_damage_never_crashes():
    """Flipped bits and bytes: MoteError or some decoded array, nothing else, no hang."""
    rng = np.random.default_rng(4)
    arrays = dict(int8_arrays(), **wide_arrays())
    cases = []
    for name, arr in arrays.items():
        if arr.size == 0 or arr.size > 6000:
            continue
        for cid in (HUFFMAN, ZERORUN, RICE, BITPACK):
            if not CODECS[cid].supports(arr.dtype):
                continue
            payload = CODECS[cid].encode(arr)
            for trial in range(4):
                p = bytearray(payload)
                for _ in range(1 + trial):
                    at = int(rng.integers(0, len(p)))
                    if trial % 2:
                        p[at] = int(rng.integers(0, 256))
                    else:
                        p[at] ^= 1 << int(rng.integers(0, 8))
                n = arr.size + int(rng.integers(-2, 3)) if trial == 3 else arr.size
                cases.append({'codec': cid, 'dtype': DTYPE_CODE[arr.dtype], 'n': max(n, 0),
                              'payload': bytes(p), 'expect': 'any', 'chunks': [1, 64, 7],
                              'name': '%s/%s damage %d' % (name, CODECS[cid].name, trial)})
    results, _ = run_cases(cases)
    # decode_all and the stream must agree: both fail, or give the same values
    bad = [(c['name'], r) for c, r in zip(cases, results)
           if r != ['ok', 'ok'] and (r[0][0] != 'MoteError' or r[1][0] != 'MoteError')]
    assert not bad, bad


# -- the device files ------------------------------------------------------

def test_device_files_compile_for_boards():
    from motes.board.device_build import mpy_cross
    with tempfile.TemporaryDirectory() as tmp:
        for name in ('decode.py', 'huff.py'):
            for arch in ('armv6m', 'xtensawin'):
                proc = subprocess.run([mpy_cross(), '-march=' + arch, '-o', str(Path(tmp) / 'x.mpy'),
                                       str(DEVICE / 'motes' / name)], capture_output=True, text=True)
                assert proc.returncode == 0, proc.stderr


_RAM = r"""
import sys, gc
sys.path.insert(0, {device!r})
from motes.decode import decode_all, DECODERS
from motes.structs import Const
f = open({payloads!r}, "rb")
for name, codec, n, pos, size in {cases!r}:
    ref = Const(codec, 0, (n,), pos, size, n)
    got = len(decode_all(f, ref))  # (imports the decoder's module first)
    gc.collect()
    before = gc.mem_alloc()
    dec = DECODERS[codec](f, ref)
    gc.collect()
    print(got, gc.mem_alloc() - before)
    dec = None
"""


def test_decoder_ram():
    """The RAM each decoder holds while it reads (its state, tables, buffer): small and
    independent of the array's length. (Their speed: bench/codecs_speed.py.)"""
    rng = np.random.default_rng(5)
    n = 20_000
    arrays = [('huffman laplace(12)', HUFFMAN, q8(rng.laplace(0, 12, n))),
              ('huffman normal(25)', HUFFMAN, q8(rng.normal(0, 25, n))),
              ('huffman laplace(3)', HUFFMAN, q8(rng.laplace(0, 3, n))),
              ('zerorun 90% zeros', ZERORUN, (q8(rng.normal(0, 25, n)) * (rng.random(n) > 0.9)).astype(np.int8)),
              ('zerorun 50% zeros', ZERORUN, (q8(rng.normal(0, 25, n)) * (rng.random(n) > 0.5)).astype(np.int8)),
              ('bitpack uniform', BITPACK, rng.integers(-128, 128, n).astype(np.int8)),
              ('rice laplace(3)', RICE, q8(rng.laplace(0, 3, n)))]
    blob = bytearray()
    cases = []
    for name, cid, arr in arrays:
        payload = CODECS[cid].encode(arr)
        cases.append((name, cid, arr.size, len(blob), len(payload)))
        blob += payload
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / 'p').write_bytes(bytes(blob))
        script = Path(tmp) / 'bench.py'
        script.write_text(_RAM.format(device=str(DEVICE), payloads=str(Path(tmp) / 'p'), cases=cases))
        proc = subprocess.run([micropython_path(), str(script)], capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, MICROPYPATH=''))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.split('\n')
    assert len(lines) > len(cases), proc.stdout
    for (name, cid, count, _, size), line in zip(cases, lines):
        got, ram = line.split()
        assert int(got) == count, name
        assert int(ram) < 2600, (name, ram)
