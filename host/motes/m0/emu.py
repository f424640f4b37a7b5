"""Run the C kernels (ulab_kernels/) as an RP2040 would: ARMv6-M code in an emulated Cortex-M0.

    build()        compile kernels.c (which includes requantize.h and the
                   *_s8.c parts; + huffman.c) with arm-none-eabi-gcc for
                   -mcpu=cortex-m0plus into a small ELF, cached by source hash
                   under .cache/m0/; records which symbols the kernels need from
                   outside (libgcc helpers such as __aeabi_idiv / __aeabi_lmul,
                   memset, ...) and checks every instruction is ARMv6-M.
    M0(image)      loads the ELF into unicorn (UC_ARCH_ARM, UC_MODE_THUMB, CPU
                   model Cortex-M0: an instruction the M0+ lacks raises
                   M0Fault), puts arguments in its memory and calls functions
                   per AAPCS, counting executed instructions.
    run_layer()    runs one prepared motes Layer (FULLY_CONNECTED, CONV_2D,
                   DEPTHWISE_CONV_2D, AVERAGE/MAX_POOL_2D, ADD/SUB/MUL,
                   SOFTMAX, LOGISTIC, TANH, MEAN) through its
                   mk_* kernel with the params a device builds from the Layer
                   (as ulab_kernels/modmotes.c fills the structs).
    huffman_decode(), zerorun_decode()
                   the codec 1 / 2 decoders of huffman.c, fed in chunks.
    synthetic_layer(), reference()
                   random one-op layers through motes's own prepare(), and the
                   host numpy reference output, for tests and benchmarks.

Build flags: -mcpu=cortex-m0plus -mthumb -O2 -ffreestanding -nostdlib by
default; build(cpu=NATMOD_CPU, extra_cflags=NATMOD_CFLAGS) uses the armv6m
native module's flags (-Os -fpic ...) instead.

Memory map of the emulated board (RP2040-like; sizes generous, timing not modelled):

    0x00000000  4 KiB   return trampoline ("b ." at MAGIC_RETURN), not counted
    0x10000000  1 MiB   code and rodata of the ELF (flash, read/execute)
    0x10100000  31 MiB  constants the harness writes: weights, bias, quant, params
                        (read-only to the CPU: a kernel writing there faults)
    0x20000000  64 KiB  .data / .bss of the ELF
    0x20010000  192 KiB stack (top 0x20040000)
    0x20100000  32 MiB  activations, outputs, scratch (read/write), each buffer
                        between guard bytes that are checked after every call

Instruction counts come from a block hook: each executed translation block
adds the number of Thumb instructions in it (2-byte ones, and 4-byte BL / system
instructions count one each), so LDM/PUSH count one, like the M0+ counts.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import resources

ROOT = resources.CHECKOUT or resources.DATA          # both hold ulab_kernels/
KERNEL_DIR = Path(os.environ.get("MOTES_KERNEL_DIR", ROOT / "ulab_kernels"))   # (env: a scratch copy)
CACHE = Path(os.environ.get("MOTES_M0_CACHE", resources.cache_dir() / "m0"))
GCC = os.environ.get("MOTES_ARM_GCC", "arm-none-eabi-gcc")
CFLAGS = ("-mcpu=cortex-m0plus", "-mthumb", "-O2", "-ffreestanding", "-nostdlib",
          "-Wall", "-Wextra", "-std=c99")

# The harness's entry (entry.c: its struct layout, memset/memcpy/memmove) and linker
# script (m0.ld), package data: they ship in the wheel
ENTRY_FILE = Path(__file__).with_name("entry.c")
LINK_FILE = Path(__file__).with_name("m0.ld")

# The flags of the armv6m native module (py/dynruntime.mk + ulab_kernels/Makefile):
# build(cpu=NATMOD_CPU, extra_cflags=NATMOD_CFLAGS) measures the code a board really runs.
NATMOD_CPU = "cortex-m0"
NATMOD_CFLAGS = ("-Os", "-fpic", "-fno-common", "-DNDEBUG", "-fno-tree-loop-distribute-patterns",
                 "-fno-jump-tables", "-fno-toplevel-reorder")

TRAMPOLINE, MAGIC_RETURN = 0x00000000, 0x00000100
FLASH, FLASH_SIZE = 0x10000000, 0x00100000
CONST, CONST_SIZE = 0x10100000, 0x01F00000
RAM, RAM_SIZE = 0x20000000, 0x00010000
STACK_BASE, STACK_TOP = 0x20010000, 0x20040000
HEAP, HEAP_SIZE = 0x20100000, 0x02000000
GUARD = 16              # guard bytes before and after each heap buffer
GUARD_BYTE = 0xA5

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

# What mk_harness_layout must hold for the structs as this module writes them
# (every field int32 or a 32-bit pointer); keys 30+ / 50+ only when the header has them.
EXPECTED_LAYOUT = {
    1: 16, 2: 8, 3: 12, 4: 32, 5: 52, 6: 32, 7: 12, 8: 4, 9: 4, 10: 8, 11: 4, 12: 20,
    13: 8, 14: 20, 15: 24, 16: 36, 17: 40, 18: 44, 19: 8, 20: 28, 21: 24, 22: 48, 23: 4, 24: 28, 25: 5,
    30: 48, 31: 12, 32: 36, 33: 44, 34: 28, 35: 4, 36: 6, 38: 0, 39: 1, 40: 2,
    51: 8, 52: 4, 53: 20, 54: 16,
}
HUFF_TABLE_BYTES = 8192      # room for one mk_huff_table (checked against sizeof at load)

# ARMv6-M (Thumb) mnemonics, as objdump prints them (condition codes stripped for B).
ARMV6M_MNEMONICS = {
    "adc", "adcs", "add", "adds", "adr", "and", "ands", "asr", "asrs", "b", "bic", "bics", "bkpt",
    "bl", "blx", "bx", "cmn", "cmp", "cpsid", "cpsie", "dmb", "dsb", "eor", "eors", "isb", "ldm",
    "ldmia", "ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "lsl", "lsls", "lsr", "lsrs", "mov", "movs",
    "mrs", "msr", "mul", "muls", "mvn", "mvns", "neg", "negs", "nop", "orr", "orrs", "pop", "push",
    "rev", "rev16", "revsh", "ror", "rors", "rsb", "rsbs", "sbc", "sbcs", "sev", "stm", "stmia",
    "str", "strb", "strh", "sub", "subs", "svc", "sxtb", "sxth", "tst", "udf", "uxtb", "uxth",
    "wfe", "wfi", "yield",
}
CONDS = {"eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al"}


class M0Error(RuntimeError):
    """The toolchain or the emulator is missing, or a build failed."""


class M0Fault(RuntimeError):
    """The emulated CPU faulted (an instruction the M0+ lacks, a bad memory access) or ran away."""

    def __init__(self, msg, pc=None, kind=None):
        super().__init__(msg)
        self.pc, self.kind = pc, kind


def unavailable() -> str | None:
    """Why the emulator cannot run here (None when it can)."""
    if shutil.which(GCC) is None:
        return (f"{GCC} not found: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi")
    for mod, pkg in (("unicorn", "unicorn"), ("elftools", "pyelftools")):
        try:
            __import__(mod)
        except ImportError:
            return f"python module {mod} missing: pip install {pkg}"
    return None


# ---------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------

@dataclass
class Image:
    elf: Path
    sources: list[str]
    cpu: str
    undefined: dict = field(default_factory=dict)    # source name -> symbols it needs from outside
    symbols: dict = field(default_factory=dict)      # function name -> (address, size)
    not_armv6m: list = field(default_factory=list)   # objdump lines that are not ARMv6-M
    warnings: str = ""

    @property
    def libgcc_helpers(self) -> list[str]:
        """Compiler runtime helpers (__aeabi_*, __gnu_*, ...) the kernels call."""
        return sorted({s for v in self.undefined.values() for s in v if s.startswith("__")})

    @property
    def external(self) -> list[str]:
        """Every symbol the kernel sources need from outside themselves."""
        return sorted({s for v in self.undefined.values() for s in v})


def default_sources() -> list[Path]:
    srcs = [KERNEL_DIR / "kernels.c"]
    if (KERNEL_DIR / "huffman.c").exists():
        srcs.append(KERNEL_DIR / "huffman.c")
    return srcs


def _run(cmd, cwd=None) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode:
        raise M0Error(f"{' '.join(map(str, cmd))} failed:\n{r.stdout}{r.stderr}")
    return r


def _tool(name: str) -> str:
    return GCC[: -len("gcc")] + name if GCC.endswith("gcc") else "arm-none-eabi-" + name


def build(sources=None, cpu: str = "cortex-m0plus", extra_cflags=(), include_dirs=(),
          cache: Path | None = None) -> Image:
    """Compile and link C sources (default: ulab_kernels/kernels.c [+ huffman.c]) for the M0.

    Cached under .cache/m0/<hash of sources, headers, entry.c, m0.ld, flags, compiler>/.
    """
    why = unavailable()
    if why and "gcc" in why:
        raise M0Error(why)
    sources = [Path(s) for s in (sources if sources is not None else default_sources())]
    for s in sources:
        if not s.exists():
            raise M0Error(f"{s} does not exist (yet)")
    incs = [KERNEL_DIR, *map(Path, include_dirs), *{s.parent for s in sources}]
    flags = [*CFLAGS]
    flags[0] = f"-mcpu={cpu}"
    flags += list(extra_cflags)
    h = hashlib.sha256()
    version = _run([GCC, "--version"]).stdout.splitlines()[0]
    for part in (version, " ".join(flags), "v4"):
        h.update(part.encode() + b"\0")
    for s in [*sources, ENTRY_FILE, LINK_FILE]:
        h.update(s.name.encode() + b"\0" + s.read_bytes() + b"\0")
    for d in incs:      # headers, and the .c parts kernels.c includes (requantize.h, *_s8.c)
        for hdr in sorted(d.glob("*.[ch]")):
            h.update(hdr.name.encode() + b"\0" + hdr.read_bytes() + b"\0")
    out = (cache or CACHE) / h.hexdigest()[:20]
    meta_path = out / "image.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        return Image(elf=out / "image.elf", **meta)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=out.parent))
    try:
        inc = [f"-I{d}" for d in incs]
        objs, undefined, warnings = [], {}, []
        for i, s in enumerate([*sources, ENTRY_FILE]):
            o = tmp / f"{i}_{s.stem}.o"
            r = _run([GCC, *flags, *inc, "-c", str(s), "-o", str(o)])
            if r.stderr.strip():
                warnings.append(r.stderr.strip())
            objs.append(o)
        defined = set()
        for o in objs:
            nm = _run([_tool("nm"), "--defined-only", str(o)]).stdout
            defined |= {ln.split()[-1] for ln in nm.splitlines() if ln.strip()}
        for s, o in zip(sources, objs):
            nm = _run([_tool("nm"), "-u", str(o)]).stdout
            need = sorted({ln.split()[-1] for ln in nm.splitlines() if ln.strip()}
                          - (defined - {"memset", "memcpy", "memmove"}))
            undefined[s.name] = need
        elf = tmp / "image.elf"
        _run([GCC, *flags, "-T", str(LINK_FILE), *map(str, objs), "-lgcc", "-o", str(elf)])
        symbols = _function_symbols(elf)
        dis = _run([_tool("objdump"), "-d", "--no-show-raw-insn", str(elf)]).stdout
        bad = _not_armv6m(dis)
        meta = dict(sources=[str(s) for s in sources], cpu=cpu, undefined=undefined,
                    symbols=symbols, not_armv6m=bad, warnings="\n".join(warnings))
        (tmp / "image.json").write_text(json.dumps(meta, indent=1))
        (tmp / "image.dis").write_text(dis)
        try:
            tmp.rename(out)
        except OSError:       # built concurrently by someone else
            if not meta_path.exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return Image(elf=out / "image.elf", **json.loads(meta_path.read_text()))


def _function_symbols(elf: Path) -> dict:
    from elftools.elf.elffile import ELFFile
    syms = {}
    with open(elf, "rb") as f:
        tab = ELFFile(f).get_section_by_name(".symtab")
        for s in tab.iter_symbols():
            if s["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT") and s.name:
                if s.name in syms and s["st_info"]["bind"] == "STB_LOCAL":
                    continue      # a static of the same name as another symbol: keep the first/global
                syms[s.name] = (int(s["st_value"]), int(s["st_size"]))
    return syms


def _not_armv6m(disassembly: str) -> list[str]:
    """objdump lines whose instruction is not ARMv6-M (the CPU model would miss CBZ/IT)."""
    bad = []
    for line in disassembly.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s+(\S+)", line)
        if not m:
            continue
        mn = m.group(2)
        if mn.startswith(".") or not re.fullmatch(r"[a-z][a-z0-9.]*", mn):   # .word / literal data
            continue
        base = mn.split(".")[0]
        wide = mn.endswith(".w")
        if base.startswith("b") and base[1:] in CONDS:
            base = "b"
        if base not in ARMV6M_MNEMONICS or (wide and base != "bl"):
            bad.append(line.strip())
    return bad


# ---------------------------------------------------------------------------
# the emulated CPU
# ---------------------------------------------------------------------------

class M0:
    """One emulated Cortex-M0 with an ELF image loaded; call its functions with numpy buffers."""

    def __init__(self, image: Image | None = None, cpu_model: str = "cortex-m0",
                 check_layout: bool = True, timeout_s: float = 600.0):
        from unicorn import UC_ARCH_ARM, UC_HOOK_BLOCK, UC_MODE_THUMB, UC_PROT_EXEC, UC_PROT_READ, \
            UC_PROT_WRITE, Uc
        from unicorn import arm_const
        self.image = image or build()
        self.timeout_s = timeout_s
        uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB)
        model = {"cortex-m0": arm_const.UC_CPU_ARM_CORTEX_M0, "cortex-m3": arm_const.UC_CPU_ARM_CORTEX_M3,
                 "cortex-m4": arm_const.UC_CPU_ARM_CORTEX_M4}[cpu_model]
        uc.ctl_set_cpu_model(model)
        self.cpu_model = cpu_model
        uc.mem_map(TRAMPOLINE, 0x1000, UC_PROT_READ | UC_PROT_EXEC)
        uc.mem_map(FLASH, FLASH_SIZE, UC_PROT_READ | UC_PROT_EXEC)
        uc.mem_map(CONST, CONST_SIZE, UC_PROT_READ)
        uc.mem_map(RAM, STACK_TOP - RAM, UC_PROT_READ | UC_PROT_WRITE)
        uc.mem_map(HEAP, HEAP_SIZE, UC_PROT_READ | UC_PROT_WRITE)
        uc.mem_write(MAGIC_RETURN, b"\xfe\xe7")          # b .
        self.uc, self._r = uc, arm_const
        self._load_elf(self.image.elf)
        self.symbols = dict(self.image.symbols)
        self._count = [0]
        self._cache: dict = {}
        count, cache, read = self._count, self._cache, uc.mem_read

        def on_block(uc_, address, size, _):
            n = cache.get((address, size))
            if n is None:
                n = cache[(address, size)] = _thumb_count(bytes(read(address, size)))
            count[0] += n
        uc.hook_add(UC_HOOK_BLOCK, on_block, begin=FLASH, end=FLASH + FLASH_SIZE - 1)
        self._blocks: dict | None = None
        self._profile_hook = None
        self.reset()
        if check_layout and "mk_harness_layout" in self.symbols:
            addr, size = self.symbols["mk_harness_layout"]
            pairs = np.frombuffer(bytes(uc.mem_read(addr, size)), np.int32).reshape(-1, 2)
            self.layout = {int(k): int(v) for k, v in pairs if k}
            wrong = {k: (v, EXPECTED_LAYOUT[k]) for k, v in self.layout.items()
                     if k in EXPECTED_LAYOUT and EXPECTED_LAYOUT[k] != v}
            if wrong or self.layout.get(50, 0) > HUFF_TABLE_BYTES:
                raise M0Error(f"the C structs of motes_kernels.h changed (key: (sizeof/offsetof in C, "
                              f"what the harness writes) {wrong}): update host/motes/m0/emu.py")

    def _load_elf(self, path: Path) -> None:
        from elftools.elf.elffile import ELFFile
        with open(path, "rb") as f:
            elf = ELFFile(f)
            for seg in elf.iter_segments():
                if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
                    continue
                addr = int(seg["p_vaddr"])
                self.uc.mem_write(addr, seg.data() + bytes(seg["p_memsz"] - seg["p_filesz"]))

    # ---- memory -------------------------------------------------------------

    def reset(self) -> None:
        """Forget every buffer written so far (the memory is reused)."""
        self._heap = HEAP
        self._const = CONST
        self._guards: list[int] = []
        self._frozen: list[tuple[int, bytes]] = []

    def put(self, data, const: bool = False, align: int = 8) -> int:
        """Write bytes or an array; const=True puts it in read-only 'flash'. Returns its address."""
        b = data if isinstance(data, (bytes, bytearray)) else np.ascontiguousarray(data).tobytes()
        if const:
            addr = (self._const + align - 1) & -align
            if addr + len(b) > CONST + CONST_SIZE:
                raise M0Error("constant area full")
            self._const = addr + max(len(b), 1)
            self.uc.mem_write(addr, bytes(b))
            return addr
        addr = self.alloc(len(b), align)
        self.uc.mem_write(addr, bytes(b))
        return addr

    def put_frozen(self, data, align: int = 8) -> int:
        """An input buffer in RAM that the kernel must not modify (checked by check_guards)."""
        b = np.ascontiguousarray(data).tobytes() if not isinstance(data, (bytes, bytearray)) else bytes(data)
        addr = self.put(b, align=align)
        self._frozen.append((addr, b))
        return addr

    def alloc(self, nbytes: int, align: int = 8, fill: int = 0) -> int:
        """A RAM buffer between guard bytes."""
        start = (self._heap + GUARD + align - 1) & -align
        if start + nbytes + GUARD > HEAP + HEAP_SIZE:
            raise M0Error("RAM area full")
        self.uc.mem_write(start - GUARD, bytes([GUARD_BYTE]) * GUARD)
        self.uc.mem_write(start, bytes([fill & 0xFF]) * nbytes)
        self.uc.mem_write(start + nbytes, bytes([GUARD_BYTE]) * GUARD)
        self._guards += [start - GUARD, start + nbytes]
        self._heap = start + nbytes + GUARD
        return start

    def read(self, addr: int, shape, dtype=np.int8) -> np.ndarray:
        n = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        return np.frombuffer(bytes(self.uc.mem_read(addr, n)), dtype).reshape(shape).copy()

    def check_guards(self) -> None:
        for g in self._guards:
            if bytes(self.uc.mem_read(g, GUARD)) != bytes([GUARD_BYTE]) * GUARD:
                raise M0Fault(f"the kernel wrote outside its buffers (guard bytes at {g:#x} changed)")
        for addr, b in self._frozen:
            if bytes(self.uc.mem_read(addr, len(b))) != b:
                raise M0Fault(f"the kernel modified an input buffer at {addr:#x}")

    # ---- calls --------------------------------------------------------------

    def has(self, name: str) -> bool:
        return name in self.symbols

    def where(self, pc: int) -> str:
        best = None
        for name, (a, size) in self.symbols.items():
            if a & ~1 <= pc < (a & ~1) + max(size, 1) and not name.startswith("$"):
                best = f"{name}+{pc - (a & ~1):#x}"
        return best or f"{pc:#x}"

    def profile(self, on: bool = True) -> None:
        """Start (or stop) counting executions per translation block; see hot_spots()."""
        from unicorn import UC_HOOK_BLOCK
        if on and self._profile_hook is None:
            self._blocks = {}
            blocks = self._blocks

            def on_block(uc_, address, size, _):
                key = (address, size)
                blocks[key] = blocks.get(key, 0) + 1
            self._profile_hook = self.uc.hook_add(UC_HOOK_BLOCK, on_block, begin=FLASH,
                                                  end=FLASH + FLASH_SIZE - 1)
        elif not on and self._profile_hook is not None:
            self.uc.hook_del(self._profile_hook)
            self._profile_hook = None

    def hot_spots(self, top: int = 10) -> list[tuple[str, int, int]]:
        """(where, instructions executed there, times entered) of the hottest blocks since profile()."""
        rows = []
        for (addr, size), n in (self._blocks or {}).items():
            k = self._cache.get((addr, size)) or _thumb_count(bytes(self.uc.mem_read(addr, size)))
            rows.append((f"{self.where(addr)} ({size // 2} halfwords)", k * n, n))
        rows.sort(key=lambda r: -r[1])
        return rows[:top]

    def call(self, name: str, *args: int) -> tuple[int, int]:
        """Call a function with int arguments (AAPCS); returns (r0 as int32, instructions)."""
        from unicorn import UcError
        if name not in self.symbols:
            raise M0Error(f"{name} is not in the image ({', '.join(self.image.sources)})")
        r, uc = self._r, self.uc
        args = [int(a) & 0xFFFFFFFF for a in args]
        stack_args = args[4:]
        sp = (STACK_TOP - 4 * len(stack_args)) & ~7
        if stack_args:
            uc.mem_write(sp, struct.pack(f"<{len(stack_args)}I", *stack_args))
        for reg, v in zip((r.UC_ARM_REG_R0, r.UC_ARM_REG_R1, r.UC_ARM_REG_R2, r.UC_ARM_REG_R3), args):
            uc.reg_write(reg, v)
        uc.reg_write(r.UC_ARM_REG_SP, sp)
        uc.reg_write(r.UC_ARM_REG_LR, MAGIC_RETURN | 1)
        self._count[0] = 0
        entry = self.symbols[name][0] | 1
        try:
            uc.emu_start(entry, MAGIC_RETURN, timeout=int(self.timeout_s * 1e6))
        except UcError as e:
            pc = uc.reg_read(r.UC_ARM_REG_PC)
            kind = str(e)
            raise M0Fault(f"{name}: {kind} at {pc:#x} ({self.where(pc)}) on the emulated {self.cpu_model}",
                          pc=pc, kind=kind) from None
        pc = uc.reg_read(r.UC_ARM_REG_PC)
        if pc != MAGIC_RETURN:
            raise M0Fault(f"{name} did not return within {self.timeout_s:g} s (pc {pc:#x}, "
                          f"{self.where(pc)})", pc=pc, kind="timeout")
        self.check_guards()
        r0 = uc.reg_read(r.UC_ARM_REG_R0)
        return (r0 - (1 << 32) if r0 & 0x80000000 else r0), self._count[0]


def _thumb_count(code: bytes) -> int:
    """Number of Thumb instructions in a block (32-bit encodings start 0b11101/0b11110/0b11111)."""
    n = i = 0
    while i + 1 < len(code):
        hw = code[i] | code[i + 1] << 8
        i += 4 if (hw >> 11) >= 0b11101 else 2
        n += 1
    return n


# ---------------------------------------------------------------------------
# kernel calls from prepared motes Layers
# ---------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------
# entropy decoders (ulab_kernels/huffman.c)
# ---------------------------------------------------------------------------

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


def has_kernel(emu: M0, op: str, prefix: str = "mk_") -> bool:
    return op in KERNEL_OPS and emu.has(prefix + KERNEL_OPS[op][3:])


# ---------------------------------------------------------------------------
# synthetic single-op layers (tests, benchmarks)
# ---------------------------------------------------------------------------

def synthetic_layer(opcode: str, in_shape, rng: np.random.Generator, out_ch: int | None = None,
                    kernel=(3, 3), stride=(1, 1), dilation=(1, 1), padding: str = "SAME",
                    per_channel: bool = True, act: int = 0, depth_multiplier: int = 1,
                    groups: int = 1, interleaved: bool | None = None):
    """A random one-op Graph prepared by motes's own prepare(): (Layer, int8 input, output shape).

    SOFTMAX, LOGISTIC, TANH, MEAN: a random input scale (MEAN: over the axes
    given as kernel, kept as dims of 1, with a random output scale and zero point).

    The Layer carries the params and consts exactly as the converter writes
    them to a .mote (and so as a device passes them to the kernels).
    interleaved: FULLY_CONNECTED / CONV_2D weights in the format 1.2 layout;
    None: as the converter decides (interleave.why_not() is None and the
    largest group fits interleave.MAX_GROUP_BYTES).
    """
    from .. import ops
    from ..compiler.graph import Graph, Operator, Tensor
    from ..ops.conv import out_size
    from ..quant import PADDING_SAME, PADDING_VALID
    in_shape = tuple(int(d) for d in in_shape)
    pad = {"SAME": PADDING_SAME, "VALID": PADDING_VALID}[padding]
    f32 = lambda *v: np.array(v, np.float32)  # noqa: E731
    i64 = lambda *v: np.array(v, np.int64)    # noqa: E731
    in_scale, in_zp = float(rng.uniform(0.01, 0.05)), int(rng.integers(-40, 40))
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
