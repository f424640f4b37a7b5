"""Build the C kernels (ulab_kernels/) for the emulated Cortex-M0: arm-none-eabi-gcc, cached.

    build()        compile kernels.c (which includes requantize.h and the
                   *_s8.c parts; + huffman.c) with arm-none-eabi-gcc for
                   -mcpu=cortex-m0plus into a small ELF with entry.c (the
                   harness's entry and struct layout) and m0.ld (the linker
                   script), cached by source hash under .cache/m0/; records
                   which symbols the kernels need from outside (libgcc helpers
                   such as __aeabi_idiv / __aeabi_lmul, memset, ...) and checks
                   every instruction is ARMv6-M.

Build flags: -mcpu=cortex-m0plus -mthumb -O2 -ffreestanding -nostdlib by
default; build(cpu=NATMOD_CPU, extra_cflags=NATMOD_CFLAGS) uses the armv6m
native module's flags (-Os -fpic ...) instead.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .. import resources

GCC = os.environ.get("MOTES_ARM_GCC", "arm-none-eabi-gcc")
CFLAGS = ("-mcpu=cortex-m0plus", "-mthumb", "-O2", "-ffreestanding", "-nostdlib",
          "-Wall", "-Wextra", "-std=c99")

# The flags of the armv6m native module (py/dynruntime.mk + ulab_kernels/Makefile):
# build(cpu=NATMOD_CPU, extra_cflags=NATMOD_CFLAGS) measures the code a board really runs.
NATMOD_CPU = "cortex-m0"
NATMOD_CFLAGS = ("-Os", "-fpic", "-fno-common", "-DNDEBUG", "-fno-tree-loop-distribute-patterns",
                 "-fno-jump-tables", "-fno-toplevel-reorder")

# the harness's entry file and linker script (package data: they ship in the wheel)
ENTRY_FILE = Path(__file__).with_name("entry.c")
LINK_FILE = Path(__file__).with_name("m0.ld")

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


def kernel_dir() -> Path:
    """ulab_kernels/ ($MOTES_KERNEL_DIR: a scratch copy). Looked up at each build, not at
    import: `motes --help` imports this module, and the installation it finds can change
    (a test that hides the wheel's data must not leave the M0 builds looking there)."""
    env = os.environ.get("MOTES_KERNEL_DIR")
    return Path(env) if env else resources.kernels_dir()


def cache_dir() -> Path:
    env = os.environ.get("MOTES_M0_CACHE")
    return Path(env) if env else resources.cache_dir() / "m0"


def default_sources() -> list[Path]:
    kdir = kernel_dir()
    srcs = [kdir / "kernels.c"]
    if (kdir / "huffman.c").exists():
        srcs.append(kdir / "huffman.c")
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
    incs = [kernel_dir(), *map(Path, include_dirs), *{s.parent for s in sources}]
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
    out = (cache or cache_dir()) / h.hexdigest()[:20]
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

