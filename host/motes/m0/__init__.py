"""The C kernels as ARMv6-M code on an emulated Cortex-M0+: `emu` (toolchain, CPU,
harness) and `bench` (`motes bench`: instructions per layer)."""
