# Sampling script for `motes record`: accelerometer readings, one a line, as CSV.
#
#   motes record --port /dev/ttyACM0 --script examples/gesture/record.py --label shake --seconds 20 -o moves.csv
#   motes train moves.csv --label label --window 80 --step 25 -o mine.mote
#
# It prints a header (x,y,z: mg, as sensors.py reads them) and a reading every
# 20 ms (50 Hz, what the model windows are made of). Do the gesture over and
# over while it records; one recording per label. Where there is no I2C (the
# emulated board, the unix port) it simulates a hand doing LABEL (motes record
# sets it): idle, shake, circle or punch, plus noise, so the way from recording
# to a model can be tried without hardware.
import math
import random
import time

import sensors

try:
    LABEL
except NameError:         # run by hand, not by motes record
    LABEL = "idle"


def simulated(t):
    """(x, y, z) in mg at time t (s): gravity on z, the gesture on x and y."""
    x, y, z = 0.0, 0.0, 1000.0
    if LABEL == "shake":
        x = 1500 * math.sin(2 * math.pi * 5 * t)
    elif LABEL == "circle":
        x, y = 800 * math.cos(2 * math.pi * 1.5 * t), 800 * math.sin(2 * math.pi * 1.5 * t)
    elif LABEL == "punch":
        p = t % 1.2
        x = 2500 if p < 0.1 else (-1500 if p < 0.2 else 0)
    n = lambda: random.uniform(-40, 40)
    return int(x + n()), int(y + n()), int(z + n())


def main():
    print("x,y,z")
    if sensors.have_hardware():
        accel = sensors.Accel()
        t = sensors._ticks_ms()
        while True:
            print("%d,%d,%d" % tuple(accel.read_mg()))
            t += 1000 // sensors.RATE_HZ
            sensors._sleep_until(t)
    t = 0.0
    while True:
        print("%d,%d,%d" % simulated(t))
        t += 1 / sensors.RATE_HZ
        time.sleep(0.002)


main()
