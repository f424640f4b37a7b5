# motes_native as a user C module of a CMake-based MicroPython firmware build
# (esp32, rp2, ...):
#
#   make -C ports/rp2 BOARD=RPI_PICO USER_C_MODULES=/path/to/motes/ulab_kernels/micropython.cmake
#
# (several modules: a micropython.cmake of your own that include()s this one).
# The module is built into the firmware as `motes_native`; the device runtime
# finds it like the .mpy (motes.kernels picks the 'native' backend).
add_library(usermod_motes_native INTERFACE)

# (kernels.c includes the kernel parts, requantize.h and *_s8.c: they are
# not compiled on their own)
target_sources(usermod_motes_native INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}/modmotes.c
    ${CMAKE_CURRENT_LIST_DIR}/kernels.c
    ${CMAKE_CURRENT_LIST_DIR}/huffman.c
)

target_include_directories(usermod_motes_native INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}
)

target_link_libraries(usermod INTERFACE usermod_motes_native)
