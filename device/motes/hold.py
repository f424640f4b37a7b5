# Constants decoded once, at load (docs/DEVICE.md, "Modes"): in resident
# mode every constant array; in streaming mode, where RAM allows, all but the
# weight matrices. Imported by reader.py (resident) and net.py (streaming, as
# the last step of loading, when every other block is in place), then dropped.
import gc

from .structs import DTYPES, MoteError, forget
from . import kernels, decode


def _ints(n):
    # array(tc, range(n)) allocates exactly n items with no temporary copy
    from array import array
    return array("i", range(n))


def _streamed(op, slot):
    # a weight matrix that streaming mode decodes as it runs: FULLY_CONNECTED,
    # CONV_2D, DEPTHWISE_CONV_2D (also interleaved, op | 64), slot 0
    return not slot and op & 63 <= 2


def consts(net, f, streaming=False, margin=0):
    # Everything decoded once: in resident mode every constant; in streaming
    # mode all but the weight matrices (biases, multipliers and shifts, small
    # operands: a few bytes per output channel), so that an inference runs
    # only the weight decoders and the kernels, never the per-channel
    # arithmetic of format 1.1 (derive.py). The arrays are allocated first,
    # together, then filled (the decoders' buffers come and go above them).
    # One function of ~100 lines: its steps (what to keep, the blocks, the
    # decoding) share the per-constant arrays, and it runs at the peak of a
    # streaming load, where a frame of over 11 words goes on the heap and a
    # new function name is a qstr kept for good (docs/DEVICE.md, RAM)
    n = len(net._c) // 4
    if streaming and not net.prepared:     # no room for them: only the check
        return shifts(net, f)
    keep = bytearray(n)         # 1: a small array (pooled), 2: a weight matrix (its own block)
    for i in range(len(net.ops)):
        g = net._g
        k = net._at[i]
        k += g[k] + 1
        k += g[k] + 1
        np_ = g[k]
        lists = g[k + 1]
        k += 2
        for j in range(np_):
            k += g[k] + 1 if lists >> j & 1 else 1
        for slot in range(g[k]):
            c = g[k + 1 + slot]
            if c >= 0:
                big = _streamed(net.ops[i], slot)
                if not (streaming and big):
                    keep[c] = 2 if big else 1
                elif net.ops[i] == 2:
                    keep[c] = 3     # depthwise weights: decoded whole per inference; kept if room
    # sizes from the flat arrays: no Const tuple per array, whose garbage
    # would leave holes between the arrays that stay
    c = net._c
    s = net._s
    count = _ints(n)
    pools = [0] * len(DTYPES)   # items of each dtype in the pooled arrays
    for i in range(n):
        at = c[4 * i + 1]
        m = 1
        for k in range(at + 1, at + 1 + s[at]):
            m *= s[k]
        count[i] = m
        if keep[i] == 1:
            pools[c[4 * i] >> 4] += m
    gc.collect()
    if streaming:
        # prepared only where they fit (this runs last: the chunk buffer and the
        # decoders' tables are there already); else rebuilt per inference
        # (slower, same results)
        b = dw = 0
        for dt in range(len(pools)):
            b += pools[dt] * DTYPES[dt][1]
        for i in range(n):
            if keep[i] == 3:
                dw += count[i]
        net._held = [None] * n
        free = gc.mem_free()
        if b + margin > free:
            net.prepared = 0
            shifts(net, f)
            return
        # then the depthwise weights (int8, small: 13 KB for person_detect),
        # where there is room for them too: no decoding of theirs per inference
        k = 2 if b + dw + margin + 2 * margin <= free else 0
        for i in range(n):
            if keep[i] == 3:
                keep[i] = k
        if k:
            b += dw
        for pooled in (True, False):
            # one block per dtype (compact), or, where the free memory is in
            # pieces, an array each (about 24 bytes more each)
            try:
                _hold(net, f, keep, count, pools, pooled)
                net.prepared = b
                break
            except MemoryError:
                net.prepared = 0
                net._held = [None] * n
                net._wc = net._dv = None
                gc.collect()
        forget("motes.derive")
        shifts(net, f)
        return
    _hold(net, f, keep, count, pools)
    shifts(net, f)
    if kernels.BACKEND == "native":
        # interleaved layers (format 1.2): the C kernels read their weights
        # as offset binary (w ^ 0x80), flipped here once; not those of a layer
        # that runs in Python (k_native._typed)
        from . import k_native as k
        for i in range(len(net.ops)):
            L = net.layer(i)
            if L.op & 64 and k._typed(L):
                k._n.flip(L.consts[0], L.refs[0].n)
    f.close()
    net._f = None
    for name in ("motes.huff", "motes.zrun", "motes.bits", "motes.dec_native", "motes.derive"):
        forget(name)   # decoders are not needed again
    calls(net, 6144)


def calls(net, margin):
    # every Tensor and each layer's Layer made once, for every inference, if
    # margin bytes stay free beside them: net.tensor and net.layer become
    # lookups (instance attributes over Net's methods, so that net.py, whose
    # code is in the heap of a board without ROMFS, does not grow). Making
    # them is half an inference of a small model (hello_world on the M3,
    # native: 325,500 -> 146,000 instructions)
    gc.collect()
    try:
        t = [net.tensor(i) for i in range(len(net._sc))]
        L = [net.layer(i) for i in range(len(net.ops))]
    except MemoryError:
        return
    if gc.mem_free() > margin:
        net.tensor = lambda i: t[i]
        net.layer = lambda i: L[i]
        if kernels.BACKEND != "python":
            # from the second inference on, the kernel calls alone (the Python
            # kernels' own work is most of their time: nothing to gain there)
            from . import replay
            replay.install(net, margin)


def _hold(net, f, keep, count, pools, pooled=True):
    # allocate the arrays of the constants to keep, then decode (and derive) them
    n = len(keep)
    c = net._c
    pools = list(pools) if pooled else [0] * len(DTYPES)   # (the caller's stays counts)
    held = [None] * n
    # the weight matrices (resident mode) first, each in its own block; then
    # the small arrays (biases, multipliers, shifts: a few bytes per output
    # channel) as views of one array per dtype: about 90 arrays of
    # person_detect in two blocks, with no header or rounding per array
    for i in range(n):
        if keep[i] == 2 or (keep[i] and not pooled):
            held[i] = decode.new_array(c[4 * i] >> 4, count[i])
    for dt in range(len(pools)):
        if pools[dt]:
            pools[dt] = memoryview(decode.new_array(dt, pools[dt]))
    at = [0] * len(DTYPES)
    for i in range(n):
        if keep[i] == 1 and pooled:
            dt = c[4 * i] >> 4
            held[i] = pools[dt][at[dt]:at[dt] + count[i]]
            at[dt] += count[i]
    pools = at = count = None
    derived = False
    for i in range(n):
        if keep[i]:
            r = net.ref(i)
            if r.codec > 4:
                derived = True
            else:
                try:
                    decode.decode_into(f, r, held[i])
                except MoteError as e:      # a damaged payload: named with the file and layer
                    raise MoteError("%s: layer %d: %s" % (net.what, _owner(net, r.pos), e))
    net._held = held
    if derived:                 # format 1.1: rebuilt from the scales and weights
        from . import derive
        for i in range(len(net.ops)):
            L = net.layer(i)
            r = L.refs
            if len(r) > 2 and r[2] and r[2].codec == 5:
                derive.scales(net, L, L.consts[2], L.consts[3])
            if len(r) > 1 and r[1] and r[1].codec == 6:
                derive.bias(net, L, L.consts[1], L.consts[0])
        net._wc = net._dv = None


def _owner(net, pos):
    # the layer whose constant's payload is at pos (for a message: as the
    # host's and those of an inference, the layer named)
    for i in range(len(net.ops)):
        for r in net.layer(i).refs:
            if r and r.pos == pos:
                return i
    return -1


def shifts(net, f):
    # The shifts of FULLY_CONNECTED and the convolutions (slot 3) within
    # -63..31, as verify.py checks them for the other codecs: a Huffman or
    # zero-run one is decoded only here, by the decoders the model loaded
    # anyway (in verify.py, before them, the native code tables or huff.py's
    # names would cost the heap at its peak). Held ones are checked where
    # they are; the others decoded into a small array each, once.
    for i in range(len(net.ops)):
        if net.ops[i] & 63 > 2:
            continue
        L = net.layer(i)
        r = L.refs[3] if len(L.refs) > 3 else None
        if not r or r.codec not in (1, 2):
            continue
        v = L.consts[3]
        if v is None:
            try:
                v = decode.decode_all(f, r)
            except MoteError as e:
                raise MoteError("%s: layer %d: %s" % (net.what, i, e))
        for x in v:
            if x < -63 or x > 31:
                from .verify import fail
                fail((26, net.what, i, 3, x, -63, 31))
        v = None
