# Soil moisture: "dry / ok / wet", one line per reading, and "water me" when dry.
#
# On a board: copy the motes runtime, soil.mote, meta.json, sensors.py and this
# file; it runs at boot (main.py) and reads the real probe every 15 minutes.
# On the PC (MicroPython unix port), replay a recorded day:
#   MICROPYPATH=../../device micropython main.py day.json
import sys
import json

import motes
import sensors

MODEL = "soil.mote"
META = "meta.json"      # used when the .mote carries no preprocessing


def load_meta(net):
    """Preprocessing (mean/scale per feature): from the .mote's metadata, else meta.json."""
    meta = net.meta if "preprocess" in net.meta else None
    if meta is None:
        with open(META) as f:
            meta = json.load(f)
    return meta


class Features:
    """Turns readings into the model's 4 inputs: counts, temp, RH, change over the last hour."""

    def __init__(self, step_min=15):
        self.per_hour = max(1, 60 // step_min)
        self.history = []          # the counts of the last hour's readings

    def __call__(self, r):
        counts = r["moisture"]
        h = self.history
        if len(h) >= self.per_hour:
            change = counts - h[0]
        elif h:                    # less than an hour seen: scale what there is to an hour
            change = (counts - h[0]) * self.per_hour / len(h)
        else:
            change = 0
        h.append(counts)
        if len(h) > self.per_hour:
            h.pop(0)
        return [float(counts), float(r["temp_c"]), float(r["rh"]), float(change)]


def standardize(x, meta):
    p = meta["preprocess"]
    return [(v - m) / s for v, m, s in zip(x, p["mean"], p["scale"])]


def line(r, label, prob):
    s = "%s  moisture %5d  %4.1f C  %2d%%  -> %s (%.2f)" % (
        r["time"], r["moisture"], r["temp_c"], r["rh"], label, prob)
    if label == "dry":
        s += "  <- water me!"
    return s


def main(source=None):
    if source is None:
        if len(sys.argv) > 1:                 # unix port: micropython main.py day.json
            source = sensors.Recorded(sys.argv[1])
        elif sensors.have_hardware():
            source = sensors.Live()
        else:
            source = sensors.Recorded("day.json")
    elif isinstance(source, str):
        source = sensors.Recorded(source)
    net = motes.load(MODEL, verbose=False)
    if "input_norm" in net.meta:
        # a model from `motes train` on rows of record.py: it takes the raw readings
        # named in its meta (the runtime applies its normalisation)
        names = net.meta["features"]
        inputs = lambda r: [float(r[n]) for n in names]
    else:
        meta = load_meta(net)
        features = Features(meta.get("step_min", 15))
        inputs = lambda r: standardize(features(r), meta)
    for r in source:
        label, prob = net.classify(inputs(r))
        print(line(r, label, prob))


if __name__ == "__main__":
    main()
