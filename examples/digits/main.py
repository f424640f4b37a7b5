# Digits: classify handwritten 8x8 digits that the model never saw in training.
#
# Prints one line per held-out sample of samples.json (true digit, the model's
# answer and its probability) and draws the first few as text. For playing at
# the REPL afterwards, see digits.py: show(i), classify(pixels).
#
# On a board: copy the motes runtime, digits.mote, samples.json, digits.py and
# this file; it runs at boot. On the PC (MicroPython unix port):
#   MICROPYPATH=../../device micropython main.py [samples.json]
import sys

import digits

DRAW = 2          # how many samples to draw


def main(source=None):
    """Classify every sample of `source` (a samples file, or a list of {"label", "pixels"})."""
    if source is None:
        source = sys.argv[1] if len(sys.argv) > 1 else digits.SAMPLES
    rows = digits.samples(source) if isinstance(source, str) else source
    print(digits.net())
    right = 0
    for i, s in enumerate(rows):
        if i < DRAW:
            digits.draw(s["pixels"])
        label, p = digits.classify(s["pixels"])
        ok = label == str(s["label"])
        right += ok
        print("#%-2d written %d  model %s (%.2f)%s" % (i, s["label"], label, p, "" if ok else "  <- wrong"))
    print("%d of %d right" % (right, len(rows)))


if __name__ == "__main__":
    main()
