# The verifier of a .mote (docs/FORMAT.md, *Verification*), the checks that
# reader.scan() makes once, after its counting pass, before anything of the
# model is allocated but the arena: (check) the metadata and the graph as a
# whole: every tensor inside the arena, tensors live at the same
# time apart, params in their ranges, constants of the right dtypes, the
# shapes of the layers with weights consistent, the labels one per output.
# The reader's own passes check what its arrays cannot hold; fail() has the
# messages of both. scan() drops this module again: its code is not in the
# heap at the peak of loading (reader.fill()). The host's format.py applies
# the same rules with the same messages.
#
# RAM: one function, its arguments few and common names: every name a module
# mentions is a qstr, kept for good (docs/DEVICE.md, "Names cost RAM too").
import gc

from .structs import MoteError, Const, forget
from .optable import spec
from .decode import new_array, DECODERS

def fail(a):
    # raise the MoteError of check a[0] with the values a[1:]. The messages of
    # reader.py's checks live here too: their text would cost RAM there, at the
    # peak of loading, and this module is imported only to check or to fail
    raise MoteError((
        "%s: header flags are %d, not 0: the file is damaged (copy it again)",
        "%s: count %d is more than the %d bytes left",
        "%s: section kind %d repeated, or the graph before the tensors",
        "%s: section table covers %d bytes but the file has %d",
        "%s: shape %s has too many elements",
        "%s: tensor %d has dtype code %d, unknown",
        "%s: a zero point is %d, outside -128..127",
        "%s: tensor %d: %d bytes at arena offset %d are outside the arena (%d bytes)",
        "%s: %d bytes left over",
        "%s: arena size %d is more than %d",
        "%s: the model has no input or no output",
        "%s: value is %d, outside -2147483648..2147483647",
        "%s: layer %d: param %d is %d, outside %d..%d",
        "%s: layer %d: act_min %d is above act_max %d",
        "%s: layer %d: constant mask %d has bits for no constant",
        "%s: layer %d: constant %d has dtype code %d: constants are integers",
        "%s: layer %d: constant %d: codec %d does not take dtype code %d",
        "%s: layer %d: constants overrun their section",
        "%s: layer %d: constant %d: %d payload bytes for %d values",
        "%s: layer %d data: %d bytes left over",
        "%s: metadata is not a JSON object",
        "%s: interleaved layers in a format 1.%d file: convert the model again",
        "%s: layer %d has no input or output tensor",
        "%s: layer %d: its shapes do not fit each other (input, output, weights, bias, multipliers, shifts)",
        "%s: tensors %d and %d overlap in the arena while both are live",
        "%s: metadata: labels must be a list of %d names, one per output",
        "%s: layer %d: constant %d holds %d, outside %d..%d",
        "%s: layer %d: tensor %d has dtype code %d: only QUANTIZE's input and DEQUANTIZE's output are not int8",
        "%s: metadata: input_norm must be {\"mean\": [...], \"std\": [...]}, as many finite numbers each, "
        "a divisor of the %d inputs, no std 0",
        # (29-35: the reader's own, as the rest; the 1.2 rules in one message, see docs/DEVICE.md)
        "%s: layer %d: bad interleaved layer (format 1.2): convert the model again",
        "%s: layer %d: op %d is unknown to this runtime: update motes on the board",
        "%s: layer %d is chained to no tensor",
        "%s: %d layer data sections for %d layers with constants",
        "%s: codec %d is unknown to this runtime: update motes on the board",
        "%s: layer %d: derived constant (codec %d) in the wrong place",
        "%s: implied shape [C] on a layer without output channels",
    )[a[0]] % a[1:])


def check(meta, f, what, n, size, ins, outs, file_bytes, chunk):
    # the graph arrays of net.py (_t, _sc: None, _s, _at, ops, _g, _c) at the
    # exact sizes the counting pass found (n), filled by another pass of the
    # reader: they and this module's code take less than the kernels' and
    # decoders' code beside the same arrays in reader.fill(), the peak of loading
    from .reader import Out, _ints, _open, _parse
    a = (_ints(n[0]), None, _ints(n[2]), _ints(n[3]), bytearray(n[4]), _ints(n[5]), _ints(n[6]))
    c, secs, layer_secs = _open(file_bytes, f, what)
    labels = meta.get("labels")
    _parse(c, what, secs, layer_secs, chunk, [Out(x) for x in a])
    c = secs = layer_secs = None
    # the pass's garbage goes before the decoders below are imported: their
    # names are qstrs, kept for good, whose block went above that garbage and
    # then split the memory the chunk buffer and the decoders' tables need
    gc.collect()
    T, _, S, AT, OP, G, C = a
    # the decoders this imports (multipliers, shifts below) go again at the
    # end, but for those a model loaded before uses
    import sys
    had = "motes.bits" in sys.modules
    nt = len(T) // 5
    nb = [0] * nt                   # each tensor's bytes
    for i in range(nt):
        if T[5 * i] > 4:
            fail((5, "%s (tensor table)" % what, i, T[5 * i]))
        if T[5 * i + 1] < -128 or T[5 * i + 1] > 127:
            fail((6, "%s (tensor table)" % what, T[5 * i + 1]))
        nb[i] = T[5 * i + 3] * (1, 1, 2, 4, 4)[T[5 * i]]
        if T[5 * i + 2] + nb[i] > size:
            fail((7, what, i, nb[i], T[5 * i + 2], size))
    nl = len(OP)
    # lifetimes: the first and last step (layer) that touches each tensor; the
    # model's inputs at 0, its outputs at nl. An alias op's output shares its
    # input's root (host/motes/compiler/planner.py): the two may share bytes, at the
    # same offset
    lo = [nl + 1] * nt
    hi = [-1] * nt
    root = list(range(nt))
    for i in range(-2, nl):
        if i < 0:
            x = ins if i == -2 else outs
            y = ()
            s = 0 if i == -2 else nl
        else:
            s = i
            op = OP[i] & 63
            k = AT[i]
            x = G[k + 1:k + 1 + G[k]]
            k += 1 + G[k]
            y = G[k + 1:k + 1 + G[k]]
            k += 1 + G[k]
            # ADD, SUB, MUL, CONCATENATION may take all their inputs from constants
            if not x and op != 9 and op != 10 and op != 20 and op != 12 or not y:
                fail((22, what, i))
            if op in (5, 17, 18) and len(x) == 1 and len(y) == 1:
                r = x[0]
                while root[r] != r:
                    r = root[r]
                root[y[0]] = r
        for q in range(len(x) + len(y)):
            t = x[q] if q < len(x) else y[q - len(x)]
            if s < lo[t]:
                lo[t] = s
            if s > hi[t]:
                hi[t] = s
            # int8 activations, but QUANTIZE's input and DEQUANTIZE's output
            # (float32 at the model's edges)
            if i >= 0 and T[5 * t] and op != (16 if q < len(x) else 23):
                fail((27, what, i, t, T[5 * t]))
        if i < 0:
            continue
        # each scalar param within the range of its kind (the letters of
        # optable.py, format.PARAM_LIMITS on the host); act_min <= act_max
        kinds = spec(op)[0].encode()    # (bytes: a str's letters would become qstrs)
        n = G[k]
        lists = G[k + 1]
        k += 2
        p = []
        m = None
        for j in range(n):
            if lists >> j & 1:
                k += G[k] + 1
                p.append(0)
                continue
            v = G[k]
            r = b"saogpfmhkqviu".find(kinds[j:j + 1])
            a = (-0x80000000, -128, -128, 1, 0, 1, 0, -63, 0, 0, -128, -127, 0)[r]
            b = (0x7FFFFFFF, 127, 127, 255, 32767, 32767, 0x7FFFFFFF, 31, 20, 2, 127, 128, 31)[r]
            if v < a or v > b:
                fail((12, what, i, j, v, a, b))
            if r == 1:                  # 'a': act_min, then act_max
                if m is not None and v < m:
                    fail((13, what, i, m, v))
                m = v
            p.append(v)
            k += 1
        slots = G[k + 1:k + 1 + G[k]]
        # integer constants (a kernel takes any of int8, uint8, int16, int32:
        # the native ones only their own, the others fall back to Python);
        # Huffman and zero-run only for int8
        for j in range(len(slots)):
            if slots[j] >= 0:
                v = C[4 * slots[j]]
                if v >> 4 > 3:
                    fail((15, what, i, j, v >> 4))
                if v >> 4 and 0 < v & 15 < 3:
                    fail((16, what, i, j, v & 15, v >> 4))
        at = T[5 * x[0] + 4] if x else 0
        xs = S[at + 1:at + 1 + S[at]]
        at = T[5 * y[0] + 4]
        ys = S[at + 1:at + 1 + S[at]]
        if op == 3 or op == 4:
            # pools: the same batch and channels, 4-d
            if len(xs) != 4 or len(ys) != 4 or xs[0] != ys[0] or xs[3] != ys[3]:
                fail((23, what, i))
        if op in (5, 6, 7, 8, 14, 15, 16, 17, 18, 21, 22, 23) and (T[5 * x[0] + 3] != T[5 * y[0] + 3] or (
                op not in (5, 17, 18) and xs[-1:] != ys[-1:])):
            # one value out per value in (the activations, SOFTMAX, QUANTIZE,
            # RESHAPE and its kin), the rows of the same length but for the aliases
            fail((23, what, i))
        if op > 2:
            continue
        # FULLY_CONNECTED (0), CONV_2D (1), DEPTHWISE_CONV_2D (2): the weights'
        # shape against the input and output, the per-channel arrays against
        # the output channels: what every backend's kernels rely on
        ok = slots[0] >= 0 and slots[2] >= 0 and slots[3] >= 0
        if ok:
            at = C[4 * slots[0] + 1]
            ws = S[at + 1:at + 1 + S[at]]
            oc = (ws[0] if op < 2 else ws[-1]) if ws else 0
            if op == 0:
                d = ws[1] if len(ws) == 2 else 0
                ok = d > 0 and T[5 * x[0] + 3] % d == 0 and ys and ys[-1] == oc \
                    and T[5 * y[0] + 3] == T[5 * x[0] + 3] // d * oc
            else:
                ok = len(ws) == 4 and len(xs) == 4 and len(ys) == 4 and xs[0] == ys[0] and ys[3] == oc \
                    and 0 < ws[1] < 32768 and 0 < ws[2] < 32768 and xs[1] < 32768 and xs[2] < 32768
                if ok and op == 1:
                    d = xs[3] // ws[3] if ws[3] else 0        # groups
                    ok = d > 0 and d * ws[3] == xs[3] and oc % d == 0 and ws[1] * ws[2] * ws[3] < 1 << 31
                elif ok:
                    ok = ws[0] == 1 and xs[3] * p[6] == oc   # depth_multiplier
            # bias: one per channel; multipliers and shifts: one per channel, or one
            for j in (1, 2, 3):
                if ok and slots[j] >= 0:
                    at = C[4 * slots[j] + 1]
                    n = 1
                    for d in S[at + 1:at + 1 + S[at]]:
                        n *= d
                    ok = n == oc or (n == 1 and j > 1)
        if not ok:
            fail((23, what, i))
        # the multipliers' and shifts' values (small arrays: decoded here, once),
        # raw or by the decoders of rice and bitpack, which the model needs
        # anyway (a Huffman-coded one is not checked: its decoder's names,
        # qstrs for good, or the native code tables, 4.3 KB, cost the heap more
        # than a board has to spare here)
        for j in (2, 3):
            v = slots[j]
            if C[4 * v] & 15 in (0, 3, 4):
                at = C[4 * v + 1]
                n = 1
                for d in S[at + 1:at + 1 + S[at]]:
                    n *= d
                r = Const(C[4 * v] & 15, C[4 * v] >> 4, S[at + 1:at + 1 + S[at]], C[4 * v + 2], C[4 * v + 3], n)
                d = new_array(r.dtype, n)
                (__import__("motes.bits", None, None, ("CLASSES",)).CLASSES[r.codec] if r.codec
                 else DECODERS[0])(f, r).read(d, n)
                for d in d:
                    if d < (0 if j == 2 else -63) or d > (0x7FFFFFFF if j == 2 else 31):
                        fail((26, what, i, j, d, 0 if j == 2 else -63, 0x7FFFFFFF if j == 2 else 31))
    for u in range(nt):
        if hi[u] < 0:
            continue
        a = T[5 * u + 2]
        r = u
        while root[r] != r:
            r = root[r]
        for v in range(u + 1, nt):
            if hi[v] < 0 or lo[v] > hi[u] or lo[u] > hi[v]:
                continue
            b = T[5 * v + 2]
            if b >= a + nb[u] or a >= b + nb[v]:
                continue
            k = v
            while root[k] != k:
                k = root[k]
            if r != k or a != b:
                fail((24, what, u, v))
    if labels is not None:
        at = T[5 * outs[0] + 4]
        n = S[at + S[at]] if S[at] else 1
        if not isinstance(labels, list) or len(labels) != n:
            fail((25, what, n))
    # input_norm (Net._set_input_float): mean and std, k numbers each, k
    # dividing the input's size (the host's api.normalize asks it), finite
    # as float32 (the values are float32 there), no std 0 (a division)
    v = meta.get("input_norm")
    if v is not None:
        n = T[5 * ins[0] + 3]
        m = v.get("mean") if isinstance(v, dict) else None
        d = v.get("std") if isinstance(v, dict) else None
        ok = isinstance(m, list) and isinstance(d, list) and 0 < len(m) == len(d) and n % len(m) == 0
        if ok:
            from array import array
            a = array("f", (0.0,))
            for j in range(2 * len(m)):
                x = m[j] if j < len(m) else d[j - len(m)]
                if type(x) is not int and type(x) is not float:
                    ok = False
                    break
                a[0] = x
                if a[0] - a[0] != 0 or (j >= len(m) and a[0] == 0):
                    ok = False
                    break
        if not ok:
            fail((28, what, n))
    if not had:
        forget("motes.bits")
