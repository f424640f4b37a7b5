"""Calls of the C kernels from prepared motes Layers, on the emulated M0 (cpu.M0).

    run_layer()    runs one prepared motes Layer (FULLY_CONNECTED, CONV_2D,
                   DEPTHWISE_CONV_2D, AVERAGE/MAX_POOL_2D, ADD/SUB/MUL,
                   SOFTMAX, LOGISTIC, TANH, MEAN) through its
                   mk_* kernel with the params a device builds from the Layer
                   (as ulab_kernels/modmotes.c fills the structs).
    synthetic_layer(), reference()
                   random one-op layers through motes's own prepare(), and the
                   host numpy reference output, for tests and benchmarks.
"""
from __future__ import annotations

import ast
import functools
import struct
from array import array
from dataclasses import dataclass

import numpy as np

from .. import resources
from .cpu import M0, M0Fault
from .toolchain import M0Error

MK_STATUS = {0: "MK_OK", -1: "MK_ERR_ARG", -2: "MK_ERR_SCRATCH", -3: "MK_ERR_DATA"}
RQ_WORDS = 5                 # MK_RQ_WORDS: int32 per output channel of mk_fc_params.prepared
KERNEL_OPS = {          # op -> kernel symbol
    "FULLY_CONNECTED": "mk_fully_connected_s8",
    "CONV_2D": "mk_convolve_s8",
    "DEPTHWISE_CONV_2D": "mk_depthwise_conv_s8",
    "AVERAGE_POOL_2D": "mk_avgpool_s8",
    "MAX_POOL_2D": "mk_maxpool_s8",
    "ADD": "mk_elementwise_s8",
    "SUB": "mk_elementwise_s8",
    "MUL": "mk_elementwise_s8",
    "SOFTMAX": "mk_softmax_s8",
    "LOGISTIC": "mk_logistic_s8",
    "TANH": "mk_tanh_s8",
    "MEAN": "mk_mean_s8",
}
ELEM_OPS = {"ADD": 0, "SUB": 1, "MUL": 2}      # mk_elem_op
UNARY_OPS = ("SOFTMAX", "LOGISTIC", "TANH", "MEAN")   # one input, no weights
ELEM_PARAMS = ("input1_offset", "input2_offset", "output_offset", "left_shift",
               "input1_multiplier", "input1_shift", "input2_multiplier", "input2_shift",
               "output_multiplier", "output_shift", "act_min", "act_max")


def _i32(*vals) -> bytes:
    return struct.pack(f"<{len(vals)}i", *(int(v) for v in vals))


def dims(shape) -> bytes:
    """mk_dims {n, h, w, c} of an NHWC shape (shorter shapes padded with 1 in front)."""
    s = [int(d) for d in shape]
    if len(s) > 4:
        raise ValueError(f"shape {shape} has more than 4 dimensions")
    return _i32(*([1] * (4 - len(s)) + s))


@dataclass
class KernelResult:
    outputs: list
    instructions: int
    status: int = 0
    calls: int = 1


def _quant(emu: M0, layer) -> int:
    mult = np.ascontiguousarray(layer.consts["multiplier"], np.int32).reshape(-1)
    shift = np.ascontiguousarray(layer.consts["shift"], np.int8).reshape(-1)
    m_addr, s_addr = emu.put(mult, const=True), emu.put(shift, const=True)
    return emu.put(struct.pack("<IIi", m_addr, s_addr, mult.size), const=True)


def _chunks(n: int, chunks: int | None):
    """Split n output channels into `chunks` consecutive pieces (streaming)."""
    k = max(1, min(chunks or 1, n))
    edges = [round(i * n / k) for i in range(k + 1)]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]


def _group_chunks(n: int, chunks: int | None) -> list[tuple[int, int]]:
    """_chunks over whole groups of output channels (interleaved weights)."""
    from ..compiler.interleave import GROUP
    g = -(-n // GROUP)
    return [(GROUP * a, min(n, GROUP * b)) for a, b in _chunks(g, chunks)]


def _chunk_weights(w: np.ndarray, a: int, b: int, interleaved: bool) -> np.ndarray:
    """Output channels a .. b-1 of the weights as the kernel takes them: row-major
    rows, or (interleaved, whole groups) the groups' bytes as offset binary."""
    if not interleaved:
        return w[a:b]
    depth = w.size // w.shape[0] if w.shape[0] else 0
    return (w.reshape(-1)[a * depth:b * depth].view(np.uint8) ^ 0x80).view(np.int8)


@functools.lru_cache(maxsize=None)
def _device_function(module: str, name: str):
    """A plain-Python function of the device runtime (device/motes/<module>.py), compiled
    on its own and run here: the one copy of code that the board and the emulator tools
    must agree on. Its module may import MicroPython-only modules; the function may use
    only `array`."""
    path = resources.runtime_dir() / f"{module}.py"
    tree = ast.parse(path.read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    env = {"array": array}
    exec(compile(ast.Module([fn], type_ignores=[]), str(path), "exec"), env)
    return env[name]


def rq_table(multiplier, shift, output_offset: int, act_min: int) -> np.ndarray:
    """mk_fc_params.prepared for channels with these multipliers and shifts (motes_kernels.h):
    the device runtime's own table (k_native._rq_table), as it makes it at load."""
    mult = [int(m) for m in multiplier]
    table = _device_function("k_native", "_rq_table")(mult, [int(v) for v in shift], len(mult),
                                                      int(output_offset), int(act_min))
    return np.array(table, np.int32).reshape(len(mult), RQ_WORDS)


def run_layer(emu: M0, layer, ins, out_shapes, chunks: int | None = None,
              bias: bool = True, per_tensor_quant: bool = False, prefix: str = "mk_",
              prepared: bool = True) -> KernelResult:
    """Run a prepared Layer through its C kernel on the emulated M0.

    (One function on purpose: after the shared set-up it is one case per kernel,
    each laying out that kernel's mk_* arguments in the order its C prototype in
    ulab_kernels/motes_kernels.h takes them; split, every case would need the shared
    state (emu, sym, x, out_shape, go) passed in and the one table would scatter.)

    ins: the input arrays (int8); out_shapes: the output shapes. chunks > 1
    streams the weights of CONV_2D / FULLY_CONNECTED in that many output-channel
    pieces (out_ch_start). bias=False passes a NULL bias (when the layer's bias is
    all zeros). per_tensor_quant passes mk_quant.count = 1 (multiplier[0]) when
    every channel shares one multiplier and shift. Raises M0Fault on a fault or
    a non-MK_OK status. prefix selects another kernel family with the same
    signatures (bench/naive_kernels.c: "naive_"; it has no scratch function).
    instructions counts the kernel calls only (not mk_convolve_s8_scratch_size).
    Interleaved layers (format 1.2) pass their weights as offset binary with the
    interleaved flag set, streamed in whole groups of 8 output channels.
    An interleaved FULLY_CONNECTED gets its requantization table (rq_table),
    as the device runtime makes it at load (prepared=False: none).
    """
    if prefix != "mk_":
        # (other kernel families know only the row-major layout)
        from ..compiler.interleave import deinterleave_layer
        layer = deinterleave_layer(layer)
    op = layer.op
    il = bool(getattr(layer, "interleaved", False))
    chunker = _group_chunks if il else _chunks
    if not has_kernel(emu, op, prefix):
        raise M0Error(f"no C kernel {prefix}* for {op} in the image")
    sym = prefix + KERNEL_OPS[op][3:]
    emu.reset()
    p = layer.params
    if op in ELEM_OPS:
        return _run_elementwise(emu, sym, layer, ins, out_shapes)
    if op in UNARY_OPS:
        return _run_unary(emu, sym, layer, ins, out_shapes)
    x = np.ascontiguousarray(ins[0], np.int8)
    out_shape = tuple(int(d) for d in out_shapes[0])
    out_n = int(np.prod(out_shape))
    o_addr = emu.alloc(out_n, fill=0x5A)
    total = calls = 0

    def go(*args):
        nonlocal total, calls
        st, n = emu.call(sym, *args)
        total += n
        calls += 1
        if st != 0:
            raise M0Fault(f"{sym} returned {MK_STATUS.get(st, st)} for layer {op} "
                          f"(input {x.shape}, output {out_shape})", kind="status")

    if op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        pp = emu.put(_i32(p["filter_h"], p["filter_w"], p["stride_h"], p["stride_w"],
                          p["pad_h"], p["pad_w"], p["act_min"], p["act_max"]), const=True)
        go(pp, emu.put(dims(x.shape), const=True), emu.put_frozen(x),
           emu.put(dims(out_shape), const=True), o_addr)
    else:
        c = layer.consts
        w = np.ascontiguousarray(c["weights"], np.int8)
        b_addr = emu.put(np.ascontiguousarray(c["bias"], np.int32), const=True) if bias else 0
        if per_tensor_quant:
            mult, shift = np.asarray(c["multiplier"]).reshape(-1), np.asarray(c["shift"]).reshape(-1)
            if np.any(mult != mult[0]) or np.any(shift != shift[0]):
                raise ValueError("per_tensor_quant needs one multiplier and shift for every channel")
            m_addr, s_addr = emu.put(mult[:1].astype(np.int32), const=True), emu.put(shift[:1].astype(np.int8), const=True)
            q_addr = emu.put(struct.pack("<IIi", m_addr, s_addr, 1), const=True)
        else:
            q_addr = _quant(emu, layer)
        x_addr = emu.put_frozen(x)
        if op == "FULLY_CONNECTED":
            out_ch, depth = w.shape
            batches = x.size // depth
            in_d = emu.put(dims((batches, 1, 1, depth)), const=True)
            out_d = emu.put(dims((batches, 1, 1, out_ch)), const=True)
            fc_p = (p["input_offset"], p["filter_offset"], p["output_offset"], p["act_min"], p["act_max"])
            table = 0
            if il and prepared and prefix == "mk_":
                mult = np.broadcast_to(np.asarray(c["multiplier"]).reshape(-1), (out_ch,))
                shift = np.broadcast_to(np.asarray(c["shift"]).reshape(-1), (out_ch,))
                table = emu.put(rq_table(mult, shift, p["output_offset"], p["act_min"]), const=True)
            for a, b in chunker(out_ch, chunks):
                pp = emu.put(_i32(*fc_p, a, int(il), table), const=True)
                f_d = emu.put(dims((b - a, 1, 1, depth)), const=True)
                go(pp, q_addr, in_d, x_addr, f_d, emu.put(_chunk_weights(w, a, b, il), const=True),
                   b_addr, out_d, o_addr)
        elif op == "CONV_2D":
            oc = w.shape[0]
            in_d = emu.put(dims(x.shape), const=True)
            out_d = emu.put(dims(out_shape), const=True)
            for a, b in chunker(oc, chunks):
                pp = emu.put(_i32(p["stride_h"], p["stride_w"], p["dilation_h"], p["dilation_w"],
                                  p["pad_h"], p["pad_w"], p["input_offset"], p["output_offset"],
                                  p["act_min"], p["act_max"], 1, a, int(il)), const=True)
                f_d = emu.put(dims((b - a,) + w.shape[1:]), const=True)
                need = 0
                if emu.has(prefix + "convolve_s8_scratch_size"):
                    need, _ = emu.call(prefix + "convolve_s8_scratch_size", pp, in_d, f_d)
                if need < 0:
                    raise M0Fault(f"mk_convolve_s8_scratch_size returned {need}", kind="status")
                s_addr = emu.alloc(need) if need else 0
                ctx = emu.put(struct.pack("<Ii", s_addr, need), const=True)
                go(ctx, pp, q_addr, in_d, x_addr, f_d, emu.put(_chunk_weights(w, a, b, il), const=True),
                   b_addr, out_d, o_addr)
        elif op == "DEPTHWISE_CONV_2D":
            pp = emu.put(_i32(p["stride_h"], p["stride_w"], p["dilation_h"], p["dilation_w"],
                              p["pad_h"], p["pad_w"], p["input_offset"], p["output_offset"],
                              p["act_min"], p["act_max"], p["depth_multiplier"], 0, 0), const=True)
            go(pp, q_addr, emu.put(dims(x.shape), const=True), x_addr,
               emu.put(dims(w.shape), const=True), emu.put(w, const=True), b_addr,
               emu.put(dims(out_shape), const=True), o_addr)
        else:
            raise M0Error(f"no C kernel for {op}")
    out = emu.read(o_addr, out_shape)
    return KernelResult([out], total, 0, calls)


def shape_struct(shape) -> bytes:
    """mk_shape {rank, d[MK_MAX_RANK]}."""
    s = [int(d) for d in shape]
    if len(s) > 6:
        raise ValueError(f"shape {shape} has more than 6 dimensions")
    return _i32(len(s), *s, *([0] * (6 - len(s))))


def _run_elementwise(emu: M0, sym: str, layer, ins, out_shapes) -> KernelResult:
    rest = list(ins)
    args = []
    for key in ("input1", "input2"):
        c = layer.consts.get(key)
        if c is not None:
            a = np.ascontiguousarray(c, np.int8)
            addr = emu.put(a, const=True)
        else:
            a = np.ascontiguousarray(rest.pop(0), np.int8)
            addr = emu.put_frozen(a)
        args += [emu.put(shape_struct(a.shape), const=True), addr]
    out_shape = tuple(int(d) for d in out_shapes[0])
    o_addr = emu.alloc(int(np.prod(out_shape)), fill=0x5A)
    pp = emu.put(_i32(*(layer.params[k] for k in ELEM_PARAMS)), const=True)
    st, n = emu.call(sym, ELEM_OPS[layer.op], pp, *args, emu.put(shape_struct(out_shape), const=True), o_addr)
    if st != 0:
        raise M0Fault(f"{sym} returned {MK_STATUS.get(st, st)} for layer {layer.op} "
                      f"(output {out_shape})", kind="status")
    return KernelResult([emu.read(o_addr, out_shape)], n, 0, 1)


def _run_unary(emu: M0, sym: str, layer, ins, out_shapes) -> KernelResult:
    """SOFTMAX (rows of the last dim), LOGISTIC / TANH (every value), MEAN (a shape and an axes mask)."""
    p = layer.params
    x = np.ascontiguousarray(ins[0], np.int8)
    out_shape = tuple(int(d) for d in out_shapes[0])
    o_addr = emu.alloc(int(np.prod(out_shape)), fill=0x5A)
    x_addr = emu.put_frozen(x)
    if layer.op == "SOFTMAX":
        depth = x.shape[-1] if x.ndim else 1
        args = (emu.put(_i32(p["input_multiplier"], p["input_left_shift"], p["diff_min"]), const=True),
                x.size // depth, depth)
    elif layer.op == "MEAN":
        args = (emu.put(_i32(p["multiplier"], p["shift"], p["sum_offset"], p["output_zero_point"]), const=True),
                emu.put(shape_struct(x.shape), const=True), sum(1 << a for a in p["axes"]))
    else:
        from ..ops import activations
        args = (emu.put(_i32(*(p[k] for k in activations.PARAMS)), const=True), x.size)
    st, n = emu.call(sym, *args, x_addr, o_addr)
    if st != 0:
        raise M0Fault(f"{sym} returned {MK_STATUS.get(st, st)} for layer {layer.op} "
                      f"(output {out_shape})", kind="status")
    return KernelResult([emu.read(o_addr, out_shape)], n, 0, 1)


def has_kernel(emu: M0, op: str, prefix: str = "mk_") -> bool:
    return op in KERNEL_OPS and emu.has(prefix + KERNEL_OPS[op][3:])


# ---------------------------------------------------------------------------
# synthetic single-op layers (tests, benchmarks)
# ---------------------------------------------------------------------------

def synthetic_layer(opcode: str, in_shape, rng: np.random.Generator, out_ch: int | None = None,
                    kernel=(3, 3), stride=(1, 1), dilation=(1, 1), padding: str = "SAME",
                    per_channel: bool = True, act: int = 0, depth_multiplier: int = 1,
                    groups: int = 1, interleaved: bool | None = None, in_zp: int | None = None):
    """A random one-op Graph prepared by motes's own prepare(): (Layer, int8 input, output shape).

    (One function on purpose: one case per op family (unary, pool, FC/conv/depthwise)
    building the tensors and options that family's TFLite operator has, draws from rng
    in a fixed order that the tests' and benches' seeded layers depend on; the cases
    share the input tensor and read as one table.)

    SOFTMAX, LOGISTIC, TANH, MEAN: a random input scale (MEAN: over the axes
    given as kernel, kept as dims of 1, with a random output scale and zero point).

    The Layer carries the params and consts exactly as the converter writes
    them to a .mote (and so as a device passes them to the kernels).
    interleaved: FULLY_CONNECTED / CONV_2D weights in the format 1.2 layout;
    None: as the converter decides (interleave.why_not() is None and the
    largest group fits interleave.MAX_GROUP_BYTES). in_zp: the input's zero
    point instead of a random one (-128: an input offset of 128, as after a
    ReLU, which CONV_2D's kernels take as unsigned bytes).
    """
    from .. import ops
    from ..compiler.graph import Graph, Operator, Tensor
    from ..ops.conv import out_size
    from ..quant import PADDING_SAME, PADDING_VALID
    in_shape = tuple(int(d) for d in in_shape)
    pad = {"SAME": PADDING_SAME, "VALID": PADDING_VALID}[padding]
    f32 = lambda *v: np.array(v, np.float32)  # noqa: E731
    i64 = lambda *v: np.array(v, np.int64)    # noqa: E731
    in_scale, zp = float(rng.uniform(0.01, 0.05)), int(rng.integers(-40, 40))
    in_zp = zp if in_zp is None else in_zp
    x = rng.integers(-128, 128, size=in_shape, dtype=np.int8)
    tensors = [Tensor(0, "x", in_shape, "int8", f32(in_scale), i64(in_zp))]
    options: dict = {"fused_activation_function": act}
    inputs = [0]
    if opcode in UNARY_OPS:
        # TFLM's fixed output quantization (SOFTMAX, LOGISTIC: 1/256 and -128; TANH:
        # 1/128 and 0); inputs from narrow to wide ranges; MEAN over `axes` (kernel=)
        in_scale = float(np.exp(rng.uniform(np.log(0.002), np.log(0.3))))
        tensors[0] = Tensor(0, "x", in_shape, "int8", f32(in_scale), i64(in_zp))
        out_shape = in_shape
        out_q = {"SOFTMAX": (1 / 256, -128), "LOGISTIC": (1 / 256, -128), "TANH": (1 / 128, 0)}.get(opcode)
        if opcode == "SOFTMAX":
            options = {"beta": float(rng.uniform(0.3, 2.0))}
        elif opcode == "MEAN":
            axes = tuple(kernel)
            out_shape = tuple(1 if k in axes else d for k, d in enumerate(in_shape))
            out_q = (in_scale * float(rng.uniform(0.3, 3.0)), int(rng.integers(-30, 30)))
            tensors.append(Tensor(2, "axes", (len(axes),), "int32", f32(0), i64(0), 0,
                                  np.array(axes, np.int32)))
            options, inputs = {"keep_dims": True}, [0, 2]
        tensors.insert(1, Tensor(1, "y", out_shape, "int8", f32(out_q[0]), i64(out_q[1])))
        out_index = 1
    elif opcode in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        n, h, w, c = in_shape
        oh = out_size(pad, h, kernel[0], stride[0])
        ow = out_size(pad, w, kernel[1], stride[1])
        out_shape = (n, oh, ow, c)
        options.update(padding=pad, stride_h=stride[0], stride_w=stride[1],
                       filter_height=kernel[0], filter_width=kernel[1])
        tensors.append(Tensor(1, "y", out_shape, "int8", f32(in_scale), i64(in_zp)))
        out_index = 1
    else:
        if opcode == "FULLY_CONNECTED":
            depth = in_shape[-1]
            wshape = (out_ch, depth)
            k = depth
            out_shape = (int(np.prod(in_shape[:-1])), out_ch)
            qdim = 0
        else:
            n, h, w, c = in_shape
            oh = out_size(pad, h, kernel[0], stride[0], dilation[0])
            ow = out_size(pad, w, kernel[1], stride[1], dilation[1])
            options.update(padding=pad, stride_h=stride[0], stride_w=stride[1],
                           dilation_h_factor=dilation[0], dilation_w_factor=dilation[1])
            if opcode == "CONV_2D":
                wshape = (out_ch, kernel[0], kernel[1], c // groups)
                k = kernel[0] * kernel[1] * c // groups
                qdim = 0
            else:
                out_ch = c * depth_multiplier
                wshape = (1, kernel[0], kernel[1], out_ch)
                k = kernel[0] * kernel[1]
                qdim = 3
                options["depth_multiplier"] = depth_multiplier
            out_shape = (n, oh, ow, out_ch)
        nsc = out_ch if per_channel else 1
        wscale = rng.uniform(0.002, 0.02, size=nsc).astype(np.float32)
        wq = rng.integers(-127, 128, size=wshape, dtype=np.int8)
        wzp = np.zeros(nsc, np.int64)
        bias = rng.integers(-3000, 3000, size=out_ch).astype(np.int32)
        out_scale = float(in_scale * float(wscale.mean()) * np.sqrt(k) * 30.0)
        out_zp = int(rng.integers(-20, 20))
        tensors += [Tensor(1, "w", wshape, "int8", wscale, wzp, qdim, wq),
                    Tensor(2, "b", (out_ch,), "int32", (in_scale * wscale).astype(np.float32),
                           np.zeros(nsc, np.int64), 0, bias),
                    Tensor(3, "y", out_shape, "int8", f32(out_scale), i64(out_zp))]
        inputs = [0, 1, 2]
        out_index = 3
    op = Operator(0, opcode, inputs, [out_index], options)
    graph = Graph("synthetic", tensors, [op], [0], [out_index])
    layer = ops.prepare_layer(op, graph)
    from ..compiler import interleave
    if opcode in interleave.OPS and interleaved is not False:
        why = interleave.why_not(layer, in_shape[-1])
        if interleaved is None:
            interleaved = why is None and interleave.group_bytes(layer) <= interleave.MAX_GROUP_BYTES
        elif why is not None:
            raise ValueError(f"cannot interleave: {why}")
        if interleaved:
            layer = interleave.interleave_layer(layer)
    return layer, x, out_shape


def reference(layer, ins, out_shapes) -> list[np.ndarray]:
    """The host numpy reference (motes.ops.evaluate_layer) into fresh output arrays."""
    from ..compiler import interleave
    from .. import ops
    outs = [np.zeros(s, np.int8) for s in out_shapes]
    ops.evaluate_layer(interleave.deinterleave_layer(layer), list(ins), outs)
    return outs
