# motes: the two commands of the README, and the set-up they share.
#   make demo   the soil-moisture example on an emulated board (the main job)
#   make test   the whole test suite
# Both set up everything on a fresh Debian machine first (idempotent, quick when done).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Debian packages the project needs (installed only if missing): QEMU runs the
# emulated 32-bit boards (../shared/boards), the RISC-V compiler builds rv32imc natmods;
# headless Chromium checks the page of `motes report` (tests/host/test_report_html.py).
APT_PACKAGES := make gcc gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-user \
                qemu-system-arm qemu-system-misc gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf \
                chromium chromium-driver
SETUP_STAMP := $(VENV)/.setup-$(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)
SHARED := ../shared/models

.PHONY: setup demo test test-fast clean format-doc device fuzz
.DEFAULT_GOAL := demo

setup: $(SETUP_STAMP)

$(SETUP_STAMP):
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[train,ref,test,device,board,bench]'
	@rm -f $(VENV)/.setup-* && touch $@

# The demo: the soil-moisture model (examples/soil_moisture, trained by its
# train.py) converted to a .mote and inspected; then an emulated board (the
# real MicroPython unix port behind a serial pseudo-terminal, 128 KB heap,
# build/demo/board/flash as its flash) gets the runtime, the model and the
# example's files with `motes deploy`, exactly as a USB board would, and runs
# main.py on a recorded day of sensor readings, printing what the board prints.
SOIL := examples/soil_moisture
demo: setup
	@mkdir -p build/demo
	$(VENV)/bin/motes convert $(SOIL)/model.keras --calib $(SOIL)/calib.npy --labels dry,ok,wet \
	    --meta $(SOIL)/meta.json -o build/demo/soil.mote
	$(VENV)/bin/motes inspect build/demo/soil.mote
	$(VENV)/bin/motes emulate --folder build/demo/board --heap 128K -- \
	    $(VENV)/bin/motes deploy build/demo/soil.mote --example soil_moisture --port @ --run

test: setup
	$(PY) -m pytest -q tests

# everyday work: the suite without the cases marked slow (tests/conftest.py: training,
# emulated boards, packaging, person_detect in pure Python), on every core (pytest-xdist;
# about 100 s on 2 cores); make test stays the whole suite, one test at a time
test-fast: setup
	$(PY) -m pytest -q -n auto -m "not slow" tests

# the long fuzz campaign of issue #14 (bench/fuzz.py): 20,000 mutated .mote files over
# every backend, 2,000 .tflite files through the importer; then the C decoders and
# kernels under AddressSanitizer and UndefinedBehaviorSanitizer (ulab_kernels/fuzz.c,
# gcc's own sanitizers: no other package needed), 1,000,000 calls
SANITIZE := -std=c99 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
fuzz: setup
	$(PY) bench/fuzz.py
	@mkdir -p build
	gcc $(SANITIZE) -o build/kernels-fuzz ulab_kernels/fuzz.c ulab_kernels/kernels.c ulab_kernels/huffman.c
	build/kernels-fuzz 1000000

# The device runtime as .mpy files for a board: make device ARCH=armv6m (RP2040),
# xtensawin (ESP32), armv7emsp (STM32, nRF), rv32imc (ESP32-C3), x64 (unix port).
# (`motes build-device --arch ARCH -o DIR` does the same from an installed wheel.)
ARCH ?= armv6m
device: setup
	$(VENV)/bin/motes build-device --arch $(ARCH) -o dist/device/$(ARCH)

# generated files: the op tables (docs, device) and the runtime's mip package.json files
format-doc: setup
	$(PY) -m motes.format docs/FORMAT.md device/motes/optable.py
	$(PY) -m motes.board.deploy

clean:
	rm -rf build .cache .pytest_cache
