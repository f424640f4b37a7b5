"""Everything between the host and a board: `transport` (serial and drive boards, the
one place for board I/O), `attach` (finding the board), `deploy` and `circuitpy`
(copying the runtime, a model, an example), `device_build` (the runtime as .mpy),
`romfs`, `flash` (firmware), `emulate` (the unix port on a pseudo-terminal) and
`qemu_board` (real firmware for 32-bit boards under QEMU)."""
