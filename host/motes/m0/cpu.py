"""One emulated Cortex-M0 (unicorn) with a kernel image loaded.

    M0(image)      loads the ELF (toolchain.build()) into unicorn (UC_ARCH_ARM,
                   UC_MODE_THUMB, CPU model Cortex-M0: an instruction the M0+
                   lacks raises M0Fault), puts arguments in its memory and calls
                   functions per AAPCS, counting executed instructions.

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

import struct
from pathlib import Path

import numpy as np

from .toolchain import Image, M0Error, build

TRAMPOLINE, MAGIC_RETURN = 0x00000000, 0x00000100
FLASH, FLASH_SIZE = 0x10000000, 0x00100000
CONST, CONST_SIZE = 0x10100000, 0x01F00000
RAM, RAM_SIZE = 0x20000000, 0x00010000
STACK_BASE, STACK_TOP = 0x20010000, 0x20040000
HEAP, HEAP_SIZE = 0x20100000, 0x02000000
GUARD = 16              # guard bytes before and after each heap buffer
GUARD_BYTE = 0xA5

# What mk_harness_layout (entry.c) must hold for the structs as harness.py and decoders.py write them
# (every field int32 or a 32-bit pointer); keys 30+ / 50+ only when the header has them.
EXPECTED_LAYOUT = {
    1: 16, 2: 8, 3: 12, 4: 32, 5: 52, 6: 32, 7: 12, 8: 4, 9: 4, 10: 8, 11: 4, 12: 20,
    13: 8, 14: 20, 15: 24, 16: 36, 17: 40, 18: 44, 19: 8, 20: 28, 21: 24, 22: 48, 23: 4, 24: 28, 25: 5,
    30: 48, 31: 12, 32: 36, 33: 44, 34: 28, 35: 4, 36: 6, 38: 0, 39: 1, 40: 2,
    51: 8, 52: 4, 53: 20, 54: 16,
}
HUFF_TABLE_BYTES = 8192      # room for one mk_huff_table (checked against sizeof at load)


class M0Fault(RuntimeError):
    """The emulated CPU faulted (an instruction the M0+ lacks, a bad memory access) or ran away."""

    def __init__(self, msg, pc=None, kind=None):
        super().__init__(msg)
        self.pc, self.kind = pc, kind


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
                              f"what the harness writes) {wrong}): update EXPECTED_LAYOUT in host/motes/m0/cpu.py "
                              "and what harness.py writes")

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
