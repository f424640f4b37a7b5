# Sampling script for `motes record`: one reading a line, as CSV, for as long as it runs.
#
#   motes record --port /dev/ttyUSB0 --script examples/soil_moisture/record.py --label dry -o pots.csv
#
# It prints a header (moisture,temp_c,rh: the keys of sensors.py's readings, which
# main.py feeds a model trained by `motes train` in that order), then a reading
# every EVERY_S seconds. On a board it reads the real probe and DHT22 (sensors.py,
# same wiring). Where there is no ADC (the emulated board, the unix port) it
# simulates a pot in the state named by LABEL (motes record sets it: dry, ok or
# wet), with the curve and noise of data.py, so the whole way record -> train ->
# deploy can be tried without hardware.
import random
import time

import sensors

EVERY_S = 1.0            # a reading a second on a board: change the pot's state between recordings
SIM_EVERY_S = 0.02       # the simulated sensor needs no waiting
SIM_VWC = {"dry": (5, 13), "ok": (18, 32), "wet": (37, 48)}   # % water by volume (data.py's labels)

try:
    LABEL
except NameError:        # run by hand, not by motes record
    LABEL = "ok"


def simulated():
    """A reading like data.counts_of gives: saturating curve, -30 counts per C, noise."""
    lo, hi = SIM_VWC.get(LABEL, (5, 48))
    vwc = lo + (hi - lo) * random.random()
    temp = 14 + 14 * random.random()              # the climate says nothing of the soil here
    counts = 48000 - 27000 * min(vwc / 50, 1.05) ** 0.85 - 30 * (temp - 20) + random.uniform(-400, 400)
    rh = 35 + 40 * random.random()
    return int(counts), round(temp, 1), int(rh)


def main():
    live = sensors.have_hardware()
    if not live:
        random.seed(sum(ord(c) * 31 ** i for i, c in enumerate(LABEL)) & 0xFFFF)
    print("moisture,temp_c,rh")
    while True:
        if live:
            temp, rh = sensors.read_climate()
            print("%d,%.1f,%d" % (sensors.read_probe(), temp, rh))
            time.sleep(EVERY_S)
        else:
            print("%d,%.1f,%d" % simulated())   # (seeded by the label: the same pots every time)
            time.sleep(SIM_EVERY_S)


main()
