# Handwritten digits at the REPL: classify 8x8 pictures, draw them as text.
#
#   >>> from digits import *
#   >>> show(0)                      # held-out sample 0: drawing, true label, the model's answer
#   >>> classify(sample(3))          # ('4', 0.99): (label, probability)
#   >>> classify(["   @@   ",        # or draw your own: 8 rows of 8 characters from RAMP
#   ...           ...])
#
# A picture is 64 pixel values 0..16 (0 background, 16 full ink), row by row:
# the format of scikit-learn's load_digits, which the model was trained on.
import json

import motes

MODEL = "digits.mote"
SAMPLES = "samples.json"
LEVELS = 16
RAMP = " .:-=+*#%@"            # ink 0 .. 16, one character per step of 16/9

_net = None
_samples = None


def net():
    """The model, loaded once (about 3 KB of RAM besides the runtime)."""
    global _net
    if _net is None:
        _net = motes.load(MODEL, verbose=False)
    return _net


def _read(path):
    with open(path) as f:
        return json.load(f)


def samples(path=SAMPLES):
    """The held-out digits: a list of {"label": 3, "pixels": [64 values]} (kept once read)."""
    global _samples
    if path != SAMPLES:
        return _read(path)
    if _samples is None:
        _samples = _read(path)
    return _samples


def sample(i):
    """The pixels of held-out sample i."""
    return samples()[i]["pixels"]


def parse(rows):
    """8 strings of 8 characters (RAMP: ' ' blank .. '@' full ink) -> 64 pixel values."""
    if len(rows) != 8:
        raise ValueError("draw 8 rows of 8 characters")
    px = []
    top = len(RAMP) - 1
    for row in rows:
        row = (row + " " * 8)[:8]
        for ch in row:
            k = RAMP.find(ch)
            px.append(LEVELS if k < 0 else (k * LEVELS + top // 2) // top)
    return px


def draw(pixels, indent="  "):
    """Print 64 pixel values as a framed 8x8 picture, two characters a pixel."""
    top = len(RAMP) - 1
    print(indent + "+" + "-" * 16 + "+")
    for r in range(8):
        line = ""
        for v in pixels[r * 8:r * 8 + 8]:
            line += RAMP[(v * top + LEVELS // 2) // LEVELS] * 2
        print(indent + "|" + line + "|")
    print(indent + "+" + "-" * 16 + "+")


def classify(pixels):
    """(label, probability) for 64 pixel values 0..16, or 8 drawn rows (see parse)."""
    if isinstance(pixels[0], str):
        pixels = parse(pixels)
    if len(pixels) != 64:
        raise ValueError("a digit is 64 pixels (8x8), not %d" % len(pixels))
    return net().classify([v / LEVELS for v in pixels])


def show(i):
    """Draw held-out sample i and say what the model makes of it."""
    s = samples()[i]
    draw(s["pixels"])
    label, p = classify(s["pixels"])
    print("sample %d: written as %d, the model says %s (%.2f)" % (i, s["label"], label, p))
