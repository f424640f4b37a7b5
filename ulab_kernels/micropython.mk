# motes_native as a user C module of a make-based MicroPython firmware build
# (stm32, esp8266, nrf, unix, ...). py/usermod.mk includes every
# <dir>/micropython.mk found one level below USER_C_MODULES, so point it at the
# folder that holds ulab_kernels/ (the motes checkout):
#
#   make -C ports/stm32 BOARD=... USER_C_MODULES=/path/to/motes
#
# The module is then built into the firmware as `motes_native`; the device
# runtime finds it like the .mpy (motes.kernels picks the 'native' backend).
MOTES_NATIVE_DIR := $(USERMOD_DIR)

# the binding (scanned for qstrs) and the plain C kernels and decoders
# (kernels.c includes the kernel parts, requantize.h and *_s8.c: they are
# not compiled on their own, and the port's -MD dependencies track them)
SRC_USERMOD_C += $(MOTES_NATIVE_DIR)/modmotes.c
SRC_USERMOD_LIB_C += $(MOTES_NATIVE_DIR)/kernels.c $(MOTES_NATIVE_DIR)/huffman.c

CFLAGS_USERMOD += -I$(MOTES_NATIVE_DIR)
