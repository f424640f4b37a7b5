"""Run the C kernels (ulab_kernels/) as an RP2040 would: ARMv6-M code in an emulated Cortex-M0.

The one name the tests, bench/ and `motes bench` import (`from motes.m0 import
emu as m0emu`); the code lives in four modules, each re-exported here:

    toolchain      build(): kernels.c [+ huffman.c] with entry.c and m0.ld by
                   arm-none-eabi-gcc into a cached ELF, its symbols, the
                   ARMv6-M check; unavailable(), Image, M0Error
    cpu            M0(image): the ELF in unicorn (Cortex-M0 model), memory map,
                   AAPCS calls counting Thumb instructions; M0Fault
    harness        run_layer() (every op with a C kernel), rq_table(),
                   synthetic_layer(), reference()
    decoders       huffman_decode(), zerorun_decode() (huffman.c, in chunks)

A test that replaces a function for one case patches it in the module that
calls it (e.g. harness._group_chunks), not here.
"""
from __future__ import annotations

from .toolchain import (  # noqa: F401
    ARMV6M_MNEMONICS, CFLAGS, CONDS, ENTRY_FILE, GCC, LINK_FILE, NATMOD_CFLAGS,
    NATMOD_CPU, Image, M0Error, _function_symbols, _not_armv6m, _run, _tool, build, cache_dir, default_sources,
    kernel_dir, unavailable)
from .cpu import (  # noqa: F401
    CONST, CONST_SIZE, EXPECTED_LAYOUT, FLASH, FLASH_SIZE, GUARD, GUARD_BYTE, HEAP, HEAP_SIZE,
    HUFF_TABLE_BYTES, M0, MAGIC_RETURN, RAM, RAM_SIZE, STACK_BASE, STACK_TOP, TRAMPOLINE, M0Fault,
    _thumb_count)
from .harness import (  # noqa: F401
    ELEM_OPS, ELEM_PARAMS, KERNEL_OPS, MK_STATUS, RQ_WORDS, UNARY_OPS, KernelResult, _chunk_weights,
    _chunks, _device_function, _group_chunks, _i32, _quant, _run_elementwise, _run_unary, dims,
    has_kernel, reference, rq_table, run_layer, shape_struct, synthetic_layer)
from .decoders import (  # noqa: F401
    DecodeResult, _build_table, _chunked_decode, huffman_decode, zerorun_decode)
