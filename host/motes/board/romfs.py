"""The runtime in ROMFS: executed from flash instead of being loaded into RAM.

MicroPython 1.25+ firmware built with ROMFS (`MICROPY_VFS_ROM`, a flash
partition mapped into the address space) mounts that partition at /rom and
puts /rom and /rom/lib on sys.path. A `.mpy` imported from there runs in
place: its bytecode, strings and bytes constants stay in flash, and RAM holds
only function objects, module dicts and the qstr index. For the motes runtime
that is about a third of the RAM its code takes when imported from the normal
filesystem (see docs/DEVICE.md, "Memory"). Stock ESP32 and RP2040 downloads
do not enable ROMFS yet: it takes a firmware build with a ROMFS partition,
like frozen modules do (README, "Firmware with the kernels built in").

    image = runtime_image("armv6m")      # lib/motes/*.mpy (+ lib/motes_native*.mpy)
    Path("motes.romfs").write_bytes(image)
    # then: mpremote romfs deploy motes.romfs

The unix port has VfsRom but no flash partition. emulated_flash() stands in
for one: a native module whose read-only data is the image. The unix port
keeps native code in memory it maps outside the GC heap, as a board keeps
flash outside its RAM, so the heap then holds exactly what a board's RAM would:
what MicroPython's own VfsRom and import code create. mount_code() is the
start-up code that mounts it, as firmware does at boot.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import resources
from ..compiler.graph import ModelError



def mount_code(flash: Path) -> str:
    """MicroPython code doing what firmware with ROMFS does at boot (mp_init),
    for the emulated flash partition in the folder `flash` (emulated_flash())."""
    return (f"import sys, vfs\nsys.path.insert(0, {str(flash)!r})\nimport motes_flash\n"
            "sys.path.pop(0)\n"
            'vfs.mount(vfs.VfsRom(motes_flash.image()), "/rom")\n'
            'sys.path[:0] = ["/rom", "/rom/lib"]\n'
            'del sys.modules["motes_flash"], motes_flash\n')


def build_image(files: dict[str, bytes]) -> bytes:
    """A ROMFS image holding files ({"lib/motes/net.mpy": data, ...})."""
    from mpremote.romfs import VfsRomWriter

    tree: dict = {}
    for name, data in files.items():
        parts = name.strip("/").split("/")
        if not all(parts) or any(not p.isascii() for p in parts):
            raise ModelError(f"ROMFS file name {name!r}: use non-empty ASCII path parts")
        node = tree
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ModelError(f"ROMFS: {name!r} puts a file where a folder is")
        node[parts[-1]] = bytes(data)

    w = VfsRomWriter()

    def add(node):
        for key in sorted(node):
            if isinstance(node[key], dict):
                w.opendir(key)
                add(node[key])
                w.closedir()
            else:
                w.mkfile(key, node[key])

    add(tree)
    return w.finalise()


def runtime_files(arch: str, native: bool = True) -> dict[str, bytes]:
    """The runtime compiled for `arch`, laid out for /rom/lib."""
    from . import device_build

    folder = device_build.build(arch, native=native)
    files = {f"lib/motes/{p.name}": p.read_bytes() for p in sorted((folder / "motes").glob("*.mpy"))}
    for name in device_build.NATIVE_FILES:
        mod = folder / name
        if native and mod.exists():
            files[f"lib/{name}"] = mod.read_bytes()
    return files


def runtime_image(arch: str, native: bool = True) -> bytes:
    return build_image(runtime_files(arch, native))


_FLASH_C = """\
// Emulated ROMFS partition for the MicroPython unix port (host/motes/board/romfs.py).
#include "py/dynruntime.h"
static const uint8_t rom[%(size)d] __attribute__((aligned(16))) = {
%(bytes)s
};
static mp_obj_t image(void) {
    return mp_obj_new_bytearray_by_ref(sizeof(rom), (void *)rom);
}
static MP_DEFINE_CONST_FUN_OBJ_0(image_obj, image);
mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY
    mp_store_global(MP_QSTR_image, MP_OBJ_FROM_PTR(&image_obj));
    MP_DYNRUNTIME_INIT_EXIT
}
"""


def emulated_flash(image: bytes) -> Path:
    """A folder holding motes_flash.mpy (x64): the image as a flash partition for the unix port.

    mount_code(folder) mounts it at /rom. Built with the same natmod
    tools as ulab_kernels (gcc, pyelftools); cached by the image's hash.
    """
    digest = hashlib.sha256(image).hexdigest()[:16]
    out = resources.cache_dir() / "romflash" / digest
    mod = out / "motes_flash.mpy"
    if mod.exists():
        return out
    kernels = resources.kernels_dir()
    mpy_dir = subprocess.run(["sh", str(kernels / "fetch_mpy.sh")], capture_output=True, text=True,
                             env=dict(os.environ, MOTES_CACHE=str(resources.cache_dir())))
    if mpy_dir.returncode != 0 or not mpy_dir.stdout.strip():
        raise ModelError("emulated ROMFS: the natmod build files are missing: " + mpy_dir.stderr.strip())
    rows = ",\n".join(",".join(str(b) for b in image[i:i + 32]) for i in range(0, len(image), 32))
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        Path(tmp, "flash.c").write_text(_FLASH_C % {"size": len(image), "bytes": rows})
        Path(tmp, "Makefile").write_text(
            f"MPY_DIR = {mpy_dir.stdout.strip()}\nMOD = motes_flash\nSRC = flash.c\nARCH = x64\n"
            "include $(MPY_DIR)/py/dynruntime.mk\n")
        proc = subprocess.run(["make", "-s", "-C", tmp, f"PYTHON={sys.executable}"],
                              capture_output=True, text=True)
        built = Path(tmp, "motes_flash.mpy")
        if proc.returncode != 0 or not built.exists():
            raise ModelError("emulated ROMFS: building motes_flash.mpy failed:\n"
                             + (proc.stdout + proc.stderr).strip()[-2000:])
        built.replace(mod)
    return out
