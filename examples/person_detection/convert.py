"""Import TensorFlow Lite Micro's person-detection model into person.mote, with its two test images.

    cd examples/person_detection
    ../../.venv/bin/python convert.py [path/to/person_detect.tflite] [--images FOLDER]

No training here: the model (MobileNetV1, 96x96 greyscale in, "no person" /
"person" out, ~250 KB of int8 weights) was trained and released by the
TensorFlow Lite Micro project (Apache License 2.0; provenance in NOTICE.md).
The default paths are the shared reference copies beside this repository
(`../shared/models/` from the repository root). The script converts the model,
copies the test images as person.raw and no_person.raw (96x96 bytes, rows top
down) and prints what the int8 model says about each, as the board will.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SHARED = ROOT.parent / "shared" / "models"
DEFAULT_MODEL = SHARED / "person_detect.tflite"
DEFAULT_IMAGES = SHARED / "testdata" / "person_detection"
LABELS = ["no person", "person"]          # the model's output order
IMAGES = {"person.raw": "person_96x96_u8_topdown.raw", "no_person.raw": "no_person_96x96_u8_topdown.raw"}
SIDE = 96


def load_image(path):
    """96x96 grey pixels (0..255) as the model's int8 input: the same bytes read as int8."""
    raw = Path(path).read_bytes()
    if len(raw) != SIDE * SIDE:
        raise ValueError(f"{path}: {len(raw)} bytes, want {SIDE * SIDE} (96x96 grey, one byte a pixel)")
    return np.frombuffer(raw, dtype=np.int8).reshape(1, SIDE, SIDE, 1)


def scores(model, image):
    """(int8 outputs, float scores) of the .mote on one image, by the host's reference executor."""
    from motes import api
    q, f = api.run(model, image)
    return q.ravel(), f.ravel()


def convert(tflite=DEFAULT_MODEL, images=DEFAULT_IMAGES, out_dir=HERE, quiet=False):
    """Write person.mote and the two .raw images to out_dir; return what each image scores."""
    say = (lambda *a: None) if quiet else print
    from motes import api
    from motes.format import from_bytes
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tflite = Path(tflite)
    conv = api.convert(tflite, meta={"name": "person_detect", "labels": LABELS,
                                     "input": "96x96 grey, rows top down, pixel bytes read as int8"})
    mote = out_dir / "person.mote"
    mote.write_bytes(conv.data)
    say(f"{tflite.name} ({tflite.stat().st_size} bytes, sha256 "
        f"{hashlib.sha256(tflite.read_bytes()).hexdigest()[:16]}...) -> {mote.name} ({len(conv.data)} bytes)")
    model = from_bytes(conv.data)
    results = {}
    for dst, src in IMAGES.items():
        shutil.copyfile(Path(images) / src, out_dir / dst)
        q, f = scores(model, load_image(out_dir / dst))
        best = int(np.argmax(f))
        results[dst] = {"int8": q.tolist(), "scores": f.tolist(), "label": LABELS[best]}
        say(f"{dst}: {LABELS[best]} (person {f[1]:.2f}, no person {f[0]:.2f}; int8 {q.tolist()})")
    return {"mote": mote, "mote_bytes": len(conv.data), "tflite_bytes": tflite.stat().st_size,
            "results": results}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("tflite", nargs="?", default=str(DEFAULT_MODEL),
                   help="the int8 person_detect.tflite (default: ../shared/models/ from the repository root)")
    p.add_argument("--images", default=str(DEFAULT_IMAGES),
                   help="folder holding person_96x96_u8_topdown.raw and no_person_96x96_u8_topdown.raw")
    p.add_argument("--out", default=str(HERE), help="folder for the outputs (default: this folder)")
    a = p.parse_args(argv)
    if not Path(a.tflite).exists():
        sys.exit(f"{a.tflite} not found: give the path to person_detect.tflite")
    convert(a.tflite, a.images, a.out)


if __name__ == "__main__":
    main()
