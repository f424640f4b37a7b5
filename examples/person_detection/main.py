# Person detection: is there a person in this 96x96 greyscale picture?
#
# TensorFlow Lite Micro's MobileNetV1 person detector (person.mote, 214 KB)
# classifies the two test images it ships with and prints "person" or
# "no person" with both scores, after a small text thumbnail of each image.
# The .raw files hold what the model takes: 96x96 pixels, rows top down, each
# byte the grey value minus 128 as int8 (see from_camera for camera pixels).
#
# On a board: copy the motes runtime, person.mote, person.raw, no_person.raw
# and this file. The model is larger than most boards' RAM: motes.load()
# then picks streaming mode by itself (weights decoded from flash, a layer at
# a time). On the PC (MicroPython unix port):
#   MICROPYPATH=../../device micropython main.py [image.raw ...]
import sys
import time
from array import array

import motes

MODEL = "person.mote"
IMAGES = ("person.raw", "no_person.raw")
SIDE = 96
RAMP = " .:-=+*#%@"        # dark .. bright

_out = array("b", (0, 0))  # the model's two int8 outputs: no person, person


def _ms():
    try:
        return time.ticks_ms()
    except AttributeError:   # CircuitPython
        return time.monotonic_ns() // 1000000


def read_image(path, buf=None):
    """The picture as the model takes it: 9216 int8 bytes, 96x96, rows top down.

    Pass `buf` (a bytearray(9216)) to reuse one buffer: on a board, allocate it
    before loading the model, while the heap still has a free block that big."""
    if buf is None:
        buf = bytearray(SIDE * SIDE)
    with open(path, "rb") as f:
        n = f.readinto(buf)
    if n != SIDE * SIDE:
        raise ValueError("%s: %d bytes, want %d (96x96 grey, one byte a pixel)" % (path, n, SIDE * SIDE))
    return buf


def from_camera(grey):
    """Camera grey bytes (0 black .. 255 white) -> the model's int8 bytes, in place.

    The model wants pixel - 128 as int8: the same as flipping the top bit."""
    for i in range(len(grey)):
        grey[i] ^= 0x80
    return grey


def classify(net, image):
    """(label, person score, no-person score) for one 96x96 image of int8 bytes.

    predict_int8 takes the bytes as they are (a byte 200 is the int8 -56) and
    writes the two int8 outputs into _out. They come from an int8 softmax, whose
    scale is always 1/256 with zero point -128: score = (v + 128) / 256."""
    net.predict_int8(image, _out)
    no = (_out[0] + 128) / 256
    yes = (_out[1] + 128) / 256
    return ("person" if yes > no else "no person"), yes, no


def thumbnail(image, w=2, h=4):
    """Print the picture at 48x24 characters, each the mean brightness of a 2x4 block."""
    top = len(RAMP) - 1
    for r in range(0, SIDE, h):
        line = ""
        for c in range(0, SIDE, w):
            total = 0
            for y in range(r, r + h):
                for x in range(y * SIDE + c, y * SIDE + c + w):
                    total += image[x] ^ 0x80          # int8 byte -> brightness 0..255
            line += RAMP[total * top // (255 * w * h)]
        print("  " + line)


def main(source=None, show=True, timing=False):
    """Classify each image file of `source` (a list of paths; default: the two test images).

    show: print a thumbnail first; timing: add the milliseconds per inference."""
    if source is None:
        source = sys.argv[1:] or IMAGES
    elif isinstance(source, str):
        source = [source]
    image = bytearray(SIDE * SIDE)       # first, before the model takes the heap
    net = motes.load(MODEL, verbose=False)
    print(net)
    for path in source:
        read_image(path, image)
        if show:
            thumbnail(image)
        t0 = _ms()
        label, yes, no = classify(net, image)
        line = "%s: %s (person %.2f, no person %.2f)" % (path, label, yes, no)
        if timing:
            line += " in %d ms" % (_ms() - t0)
        print(line)


if __name__ == "__main__":
    main()
