"""Running and checking a model on the host: `executor` (numpy, bit-exact with the
board), `reference` (the graph without a plan), `oracle` + `compare` (TFLM as the
reference), `mpy_engine` (the device runtime in MicroPython: unix port or an emulated
board), `fuzz` (damaged files), `report` (`motes inspect`) and `report_html` (`motes report`)."""
