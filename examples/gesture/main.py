# Gesture: shake, circle or punch, from a 3-axis accelerometer held in the hand.
#
# On a board: copy the motes runtime, gesture.mote, windows.json, sensors.py
# and this file; wire an MPU6050 or LIS3DH (README). It runs at boot, reads the
# sensor 50 times a second and prints each gesture it sees in the last 1.6 s.
# Without a sensor (and on the PC, MicroPython unix port) it replays the
# recorded windows of windows.json instead:
#   MICROPYPATH=../../device micropython main.py [windows.json]
import sys

import motes
import sensors

MODEL = "gesture.mote"
WINDOWS = "windows.json"
THRESHOLD = 0.7       # live: report a gesture when two windows in a row say it this surely

_x = [0.0] * (3 * sensors.WINDOW)   # the model's input, reused


def classify(net, readings):
    """(label, probability) for one window: 240 ints, x y z in mg for each reading."""
    for i in range(len(_x)):
        _x[i] = readings[i] / 1000          # mg -> g, what the model was trained on
    return net.classify(_x)


def replay(net, source):
    for name, readings in source:
        label, p = classify(net, readings)
        print("%-10s -> %-6s (%.2f)" % (name, label, p))


def live(net, source):
    print("%s at 0x%02x, +-4 g, %d Hz: idle, shake, circle or punch?" % (
        source.accel.kind, source.accel.addr, sensors.RATE_HZ))
    last = None           # the previous window's gesture, if it was sure of one
    held = None           # the gesture just reported: not again while the windows still show it
    for when, readings in source:
        label, p = classify(net, readings)
        if held is not None:
            if label == held:
                continue
            held = None
        seen = label if label != "idle" and p >= THRESHOLD else None
        if seen is not None and seen == last:
            print("%s  %s (%.2f)" % (when, label, p))
            held = seen
            seen = None
        last = seen

def main(source=None):
    if source is None:
        if len(sys.argv) > 1:                     # unix port: micropython main.py windows.json
            source = sensors.Recorded(sys.argv[1])
        elif sensors.have_hardware():
            try:
                source = sensors.Live()
            except OSError as e:
                print("no accelerometer (%s): replaying %s" % (e, WINDOWS))
                source = sensors.Recorded(WINDOWS)
        else:
            source = sensors.Recorded(WINDOWS)
    elif isinstance(source, str):
        source = sensors.Recorded(source)
    net = motes.load(MODEL, verbose=False)
    print(net)
    if isinstance(source, sensors.Live):
        live(net, source)
    else:
        replay(net, source)


if __name__ == "__main__":
    main()
