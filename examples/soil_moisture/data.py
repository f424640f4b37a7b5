"""Synthetic, seeded readings of a capacitive soil-moisture probe in a plant pot.

There is no public data set of "this probe, this pot, this plant", so we simulate
one. Everything below is a *modelling assumption*, chosen to look like what a
hobbyist sees from the common "Capacitive Soil Moisture Sensor v1.2/v2.0"
(a 555/TLC555 oscillator on a PCB trace; AOUT is an analog voltage) read with
MicroPython's `ADC.read_u16()` (0..65535, whatever the chip's ADC resolution;
a 12-bit ESP32 count is about read_u16 / 16).

Assumptions (change them to match your probe, see README "Calibration"):

- The probe reads HIGH in dry soil and LOW in wet soil. At 3.3 V: in air/dry
  soil about 2.4 V (read_u16 ~ 48 000), in a glass of water about 1.05 V
  (~ 21 000). Each probe (and soil, and how deep it sits) differs: per probe we
  draw its dry and wet counts around those values (sd 1 200 counts).
- The reading is a smooth, saturating function of the volumetric water
  content (VWC): counts = dry - (dry - wet) * (VWC / 50 %) ** 0.85.
  Potting soil: ~5 % VWC bone dry, ~30 % after it has drained
  ("field capacity"), ~45-50 % waterlogged just after watering.
- Labels come from the true VWC, not the reading: dry < 15 %, wet > 35 %
  (above what the pot holds after draining), ok in between.
- Temperature drift: -30 counts per degree C above 20 C (the oscillator and
  the soil's permittivity both move with temperature).
- Noise: sd 250 counts per reading (an ESP32 ADC after averaging a few reads);
  the temperature/humidity sensor (e.g. DHT22) +-0.3 C and +-2 % RH.
- Drying between waterings: exponential decay of VWC towards an air-dry floor,
  k ~ 0.25 / day at 20 C and 50 % RH, faster when warm (x1.07 per C) and when
  the air is dry. Above field capacity the pot also drains, quickly (hours).
- Watering: the gardener notices dryness after a random delay (0-3 days), or
  (sometimes) waters while it is still ok; each watering adds 20-40 % VWC.
- Climate: per pot a mean temperature 14-28 C with a daily swing of 2-8 C
  (warmest mid-afternoon) and relative humidity that falls when it warms.

Features per reading (what the board computes): raw moisture counts,
temperature C, relative humidity %, and the change in counts over the last
hour (a big drop means it has just been watered).
"""
from __future__ import annotations

import math

import numpy as np

FEATURES = ["moisture_counts", "temp_c", "rh_pct", "moisture_change_1h"]
LABELS = ["dry", "ok", "wet"]
STEP_MIN = 15                    # one reading every 15 minutes
STEPS_PER_HOUR = 60 // STEP_MIN
DRY_VWC, WET_VWC = 15.0, 35.0    # label thresholds on the true VWC, %
DRY_COUNTS, WET_COUNTS = 48000, 21000   # typical read_u16 in air / in water (assumed)
FIELD_CAPACITY = 30.0            # % VWC a pot holds after draining
FLOOR_VWC = 4.0                  # air-dry potting soil


def label_of(vwc):
    """0 dry, 1 ok, 2 wet for true VWC values (%)."""
    vwc = np.asarray(vwc)
    return np.where(vwc < DRY_VWC, 0, np.where(vwc > WET_VWC, 2, 1))


def counts_of(vwc, temp_c, probe, rng):
    """What read_u16 gives for a true VWC at a temperature, for one probe."""
    frac = np.clip(np.asarray(vwc) / 50.0, 0, 1.05) ** 0.85
    counts = probe["dry"] - (probe["dry"] - probe["wet"]) * frac
    counts = counts + probe["drift"] * (np.asarray(temp_c) - 20.0)
    counts = counts + rng.normal(0, probe["noise"], np.shape(counts))
    return np.clip(np.round(counts), 0, 65535)


def random_probe(rng, dry=DRY_COUNTS, wet=WET_COUNTS):
    """One probe + pot + place: calibration, drift, noise, climate, gardener."""
    return {
        "dry": rng.normal(dry, 1200), "wet": rng.normal(wet, 1200),
        "drift": rng.normal(-30, 8), "noise": rng.uniform(150, 350),
        "t_mean": rng.uniform(14, 28), "t_swing": rng.uniform(2, 8),
        "rh_mean": rng.uniform(35, 75),
        "k_dry": rng.uniform(0.15, 0.35),        # per day at 20 C, 50 % RH
        "k_drain": rng.uniform(0.5, 3.0),        # per day above field capacity
        "notice_days": rng.uniform(0, 3),        # how late the gardener notices dry soil
        "p_early": rng.uniform(0.0, 0.15),       # chance per day of watering while ok
    }


def _climate(t_days, probe, rng, day_offsets):
    """Temperature C and RH % at times t (days): daily cycle + day-to-day weather."""
    day = np.floor(t_days).astype(int)
    phase = 2 * math.pi * (t_days - 15 / 24)   # warmest at 15:00
    temp = probe["t_mean"] + day_offsets[day] + 0.5 * probe["t_swing"] * np.cos(phase)
    rh = probe["rh_mean"] - 2.0 * (temp - probe["t_mean"]) + rng.normal(0, 2, day_offsets.shape)[day]
    return temp, np.clip(rh, 10, 98)


def simulate(rng, probe, days, vwc0=None, waterings=None, amount=None):
    """True VWC, temperature and RH every 15 minutes for `days` days.

    `waterings` (list of step indices) forces when the pot is watered; None lets
    the simulated gardener decide; `amount` (% VWC) fixes how much each
    watering adds. Returns a dict of float arrays.
    """
    n = int(days * 24 * STEPS_PER_HOUR)
    t = np.arange(n) * STEP_MIN / (24 * 60)
    day_offsets = rng.normal(0, 2.0, int(days) + 2)
    temp, rh = _climate(t, probe, rng, day_offsets)
    vwc = np.empty(n)
    v = rng.uniform(10, 40) if vwc0 is None else vwc0
    dt = STEP_MIN / (24 * 60)
    dry_since = None
    forced = set(waterings or [])
    for i in range(n):
        k = probe["k_dry"] * 1.07 ** (temp[i] - 20) * (1 + 1.2 * (50 - rh[i]) / 100)
        v = FLOOR_VWC + (v - FLOOR_VWC) * math.exp(-k * dt)
        if v > FIELD_CAPACITY:
            v = FIELD_CAPACITY + (v - FIELD_CAPACITY) * math.exp(-probe["k_drain"] * dt)
        water = False
        if waterings is None:
            if v < DRY_VWC:
                dry_since = t[i] if dry_since is None else dry_since
                water = t[i] - dry_since >= probe["notice_days"]
            else:
                dry_since = None
                water = v < 25 and rng.random() < probe["p_early"] * dt
        elif i in forced:
            water = True
        if water:
            v = min(v + (rng.uniform(20, 40) if amount is None else amount), 50.0)
            dry_since = None
            probe["notice_days"] = rng.uniform(0, 3)
        vwc[i] = v
    return {"t": t, "vwc": vwc, "temp": temp, "rh": rh}


def readings_of(sim, probe, rng):
    """What the board measures: counts, temperature and RH with sensor noise."""
    counts = counts_of(sim["vwc"], sim["temp"], probe, rng)
    temp = np.round(sim["temp"] + rng.normal(0, 0.3, sim["temp"].shape), 1)
    rh = np.round(np.clip(sim["rh"] + rng.normal(0, 2, sim["rh"].shape), 0, 100))
    return counts, temp, rh


def features_of(counts, temp, rh):
    """The model's inputs [N, 4]; change over the last hour (counts now - 1 h ago)."""
    change = np.zeros_like(counts)
    change[STEPS_PER_HOUR:] = counts[STEPS_PER_HOUR:] - counts[:-STEPS_PER_HOUR]
    return np.stack([counts, temp, rh, change], axis=1).astype(np.float32)


def make_dataset(n_probes=60, days=30, seed=0, dry=DRY_COUNTS, wet=WET_COUNTS):
    """(x [N, 4] float32, y [N] int, probe id [N]) for n_probes simulated pots.

    The first hour of each pot is dropped (no 1-hour change yet). Split by probe
    id to test on pots the model has never seen.
    """
    rng = np.random.default_rng(seed)
    xs, ys, ids = [], [], []
    for p in range(n_probes):
        probe = random_probe(rng, dry, wet)
        sim = simulate(rng, probe, days)
        x = features_of(*readings_of(sim, probe, rng))[STEPS_PER_HOUR:]
        xs.append(x)
        ys.append(label_of(sim["vwc"])[STEPS_PER_HOUR:])
        ids.append(np.full(len(x), p))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ids)


def day_of_readings(seed=1, dry=DRY_COUNTS, wet=WET_COUNTS):
    """24 h of readings every 15 min (96 dicts) for the demo.

    The pot starts the day just above "dry", dries out in the warm afternoon and
    is watered in the evening. Each dict: time "HH:MM", moisture (read_u16
    counts), temp_c, rh (%), and the true VWC and label (for checking only; the
    board never sees them).
    """
    rng = np.random.default_rng(seed)
    probe = random_probe(rng, dry, wet)
    probe["t_mean"], probe["t_swing"], probe["rh_mean"] = rng.uniform(21, 25), rng.uniform(5, 8), 45
    probe["dry"], probe["wet"] = dry, wet        # a probe that reads like the one trained for
    water_at = int(rng.integers(18 * STEPS_PER_HOUR, 21 * STEPS_PER_HOUR))   # 18:00-21:00
    sim = simulate(rng, probe, 1, vwc0=rng.uniform(17.0, 17.5), waterings=[water_at], amount=35.0)
    counts, temp, rh = readings_of(sim, probe, rng)
    out = []
    for i in range(len(counts)):
        minutes = i * STEP_MIN
        out.append({"time": "%02d:%02d" % (minutes // 60, minutes % 60), "moisture": int(counts[i]),
                    "temp_c": float(temp[i]), "rh": int(rh[i]),
                    "true_vwc": round(float(sim["vwc"][i]), 1), "true_label": LABELS[int(label_of(sim["vwc"][i]))]})
    return out


if __name__ == "__main__":
    x, y, ids = make_dataset()
    print(f"{len(x)} readings from {ids.max() + 1} pots; features {FEATURES}")
    for i, name in enumerate(LABELS):
        print(f"  {name:4s} {np.mean(y == i):6.1%}")
    print("means", np.round(x.mean(0), 1), "sd", np.round(x.std(0), 1))
    for r in day_of_readings()[::8]:
        print(r)
