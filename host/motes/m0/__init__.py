"""The C kernels as ARMv6-M code on an emulated Cortex-M0+: `toolchain` (the build,
with `entry.c` and `m0.ld`), `cpu` (unicorn), `harness` (layers), `decoders`
(huffman.c), `emu` (all of them under one name) and `bench` (`motes bench`:
instructions per layer)."""
