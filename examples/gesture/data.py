"""Synthetic, seeded windows of a 3-axis accelerometer held in a hand doing gestures.

There is no public data set of "this sensor on this board in my hand", so we
simulate one. Everything below is a *modelling assumption*, chosen to look like
what a MEMS accelerometer on a small board gives when read with MicroPython
(an MPU6050 or LIS3DH on I2C, range +-4 g, 50 readings a second). Record your
own windows (README "Your own gestures") to check it against your hand.

Physics:
- An accelerometer measures specific force: the board's linear acceleration
  minus gravity, in the board's own axes. At rest it reads +1 g on whichever
  axis points up. With R(t) the board's orientation (board axes -> world, z
  up) and a(t) its linear acceleration in g, the reading is
  f = R(t)^T (a(t) + [0, 0, 1]).
- The board is held roughly flat: roll and pitch of a person's habit (sd 15
  degrees) plus sd 12 degrees per window, any heading (yaw). The hand also
  wobbles slowly (a few degrees) and the wrist turns with some gestures.

Gestures (a(t) in the world frame; "forward" is the way the board points,
give or take 20 degrees; t in seconds):
- idle: no gesture. Held still (physiological tremor 8-12 Hz, 0.003-0.02 g,
  and slow sway below 1 Hz, up to 0.04 g), or lying on a table (no tremor),
  or slowly turned or tilted by 20-60 degrees over the window (picking it up,
  looking at it: gravity moves between the axes but nothing is fast), or
  carried while walking (steps at 1.6-2.2 Hz: a vertical bounce of 0.1-0.35 g
  and a sideways sway): the hardest "nothing" to tell from a gesture.
- shake: side to side (70 %) or up and down (30 %), 2.5-6 Hz, 1.5-7 cm each
  way, for 0.8-1.5 s: peaks of (2 pi f)^2 x amplitude, about 0.4-6 g, so a
  vigorous one clips at 4 g. The wrist turns with it (5-20 degrees).
  Gestures start and end at any time: a window sees at least 0.6 s of a
  shake, three quarters of a circle, the jab of a punch (as a board's sliding
  window does).
- circle: the hand draws a circle (or an ellipse, axes ratio 0.6-1) of radius
  6-25 cm, 0.6-1.2 s a turn, clockwise or not, facing the user (60 %) or flat
  (40 %): a vector of 0.15-1.5 g turning round in that plane, for 1-2 turns.
- punch: a quick jab forward (elevation +-15 degrees), 15-40 cm in 0.12-0.3 s
  (a minimum-jerk movement: peak about 5.8 x distance / duration^2, 1.5-8 g,
  clipping), a pause of 0.05-0.25 s, then back, slower (0.3-0.6 s).
- Human tempo: each person has a tempo (x0.8-1.25 on every frequency and
  duration) and a vigour (x0.75-1.3 on every distance), and each repetition
  varies by another +-10 %.

Sensor (per board):
- zero-g offset per axis, sd 30 mg (data sheets: +-40 mg LIS3DH, +-50..80 mg
  MPU6050); sensitivity error per axis, sd 2 %;
- white noise, sd 4-15 mg a reading (the data sheets' noise density times
  the bandwidth, plus a hand's micro-motion);
- the sample clock off by up to +-2 %;
- full scale +-4 g: readings clip there; resolution 2 mg (LIS3DH, 12 bits
  high resolution) or 1/8192 g (MPU6050, 16 bits); the board reports whole mg.

Windows: 80 readings (1.6 s at 50 Hz) of x, y, z in mg, as int16. People
(tempo, vigour, habit and their board) are drawn from a seed: split by person
to test on people the model has never seen.
"""
from __future__ import annotations

import math

import numpy as np

GESTURES = ["idle", "shake", "circle", "punch"]
RATE_HZ = 50
WINDOW = 80                      # readings per window: 1.6 s
RANGE_G = 4.0                    # full scale, +-4 g
G = 9.81                         # m/s^2 in one g


def rot_x(a):
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def rot_y(a):
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def rot_z(a):
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def random_person(rng):
    """A person and their board: habits, tempo, vigour, and the sensor's errors."""
    return {
        "tempo": rng.uniform(0.8, 1.25), "vigour": rng.uniform(0.75, 1.3),
        "roll": rng.normal(0, math.radians(15)), "pitch": rng.normal(0, math.radians(15)),
        "tremor": rng.uniform(0.003, 0.02),
        "bias": rng.normal(0, 0.030, 3), "gain": 1 + rng.normal(0, 0.02, 3),
        "noise": rng.uniform(0.004, 0.015), "clock": 1 + rng.uniform(-0.02, 0.02),
        "lsb": [0.002, 1 / 8192][int(rng.integers(2))],
    }


def _envelope(t, start, length, ramp=0.1):
    """1 between start and start + length, raised-cosine ramps of `ramp` s, 0 outside."""
    up = np.clip((t - start) / ramp, 0, 1)
    down = np.clip((start + length - t) / ramp, 0, 1)
    return (0.5 - 0.5 * np.cos(np.pi * up)) * (0.5 - 0.5 * np.cos(np.pi * down))


def _min_jerk_acc(t, dist, dur):
    """Acceleration (m/s^2) of a minimum-jerk move of `dist` m taking `dur` s, starting at t = 0."""
    s = np.clip(t / dur, 0, 1)
    inside = (t >= 0) & (t <= dur)
    return np.where(inside, dist / dur ** 2 * (60 * s - 180 * s ** 2 + 120 * s ** 3), 0.0)


def motion(gesture, t, person, rng, heading, start=None, kind=None):
    """(linear acceleration [T, 3] in g, wobble angles [T, 3] in radians) at times t (s).

    start: when the gesture starts (s; default: drawn as described above);
    kind: for idle, "held", "table", "turned" or "walking" (default: drawn)."""
    # One function of ~85 lines: one branch per gesture, each drawing from rng in
    # a fixed order; the seeded data sets, and the accuracy the README and tests
    # quote, depend on that order, so the branches stay side by side here
    T = len(t)
    tempo = person["tempo"] * rng.uniform(0.9, 1.1)
    vigour = person["vigour"] * rng.uniform(0.9, 1.1)
    fwd = np.array([math.cos(heading), math.sin(heading), 0.0])
    left = np.array([-math.sin(heading), math.cos(heading), 0.0])
    up = np.array([0.0, 0.0, 1.0])
    acc = np.zeros((T, 3))
    # slow hand wobble (all gestures): a few degrees below 1 Hz
    wob = np.stack([rng.uniform(0.5, 3) * math.pi / 180 * np.sin(2 * np.pi * rng.uniform(0.2, 0.9) * t
                                                                  + rng.uniform(0, 2 * np.pi))
                    for _ in range(3)], -1)
    if gesture == "idle":
        if kind is None:
            kind = rng.choice(["held", "table", "turned", "walking"], p=[0.35, 0.15, 0.25, 0.25])
        if kind != "table":
            for _ in range(2):
                d = rng.normal(size=3)
                acc += np.outer(rng.uniform(0, 0.02) * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t
                                                               + rng.uniform(0, 2 * np.pi)), d / np.linalg.norm(d))
            f = rng.uniform(8, 12)
            acc += person["tremor"] * np.stack([np.sin(2 * np.pi * f * t + p) for p in rng.uniform(0, 2 * np.pi, 3)], -1)
        else:
            wob *= 0
        if kind == "walking":
            # steps at 1.6-2.2 Hz: a vertical bounce of 0.1-0.35 g (harmonics included) and
            # a sideways sway at half the step rate
            f = rng.uniform(1.6, 2.2)
            ph = 2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)
            bounce = rng.uniform(0.1, 0.35) * (np.sin(ph) + 0.4 * np.sin(2 * ph + rng.uniform(0, 6.3)))
            acc += np.outer(bounce, up) + np.outer(rng.uniform(0.03, 0.1) * np.sin(ph / 2), left)
            wob += np.outer(np.sin(ph / 2), rng.normal(0, math.radians(4), 3))
        if kind == "turned":
            angle = rng.uniform(20, 60) * math.pi / 180 * rng.choice([-1, 1])
            start, length = rng.uniform(0, 0.8), rng.uniform(0.6, 1.5)
            s = np.clip((t - start) / length, 0, 1)
            ramp = angle * (0.5 - 0.5 * np.cos(np.pi * s))
            wob[:, int(rng.integers(3))] += ramp
    elif gesture == "shake":
        f = rng.uniform(2.5, 6) * tempo
        amp = rng.uniform(0.015, 0.07) * vigour
        d = left if rng.random() < 0.7 else up
        d = d + rng.normal(0, 0.2, 3)
        d /= np.linalg.norm(d)
        length = rng.uniform(0.8, 1.5) / tempo
        if start is None:
            start = rng.uniform(0.6 - length, t[-1] - 0.6)       # at least 0.6 s of it in view
        env = _envelope(t, start, length)
        chirp = 1 + rng.uniform(-0.1, 0.1) * (t - t.mean())        # the tempo drifts a little
        phase = 2 * np.pi * f * t * chirp + rng.uniform(0, 2 * np.pi)
        acc += np.outer(-(2 * np.pi * f) ** 2 * amp * np.sin(phase) * env / G, d)
        wob[:, int(rng.integers(3))] += rng.uniform(5, 20) * math.pi / 180 * np.sin(phase) * env
    elif gesture == "circle":
        period = rng.uniform(0.6, 1.2) / tempo
        w = 2 * np.pi / period * rng.choice([-1, 1])
        r = rng.uniform(0.06, 0.25) * vigour
        ratio = rng.uniform(0.6, 1.0)
        a, b = (left, up) if rng.random() < 0.6 else (fwd, left)
        length = rng.uniform(1.0, 2.0) * period
        if start is None:
            start = rng.uniform(0.75 * period - length, t[-1] - 0.75 * period)   # 3/4 of a turn in view
        env = _envelope(t, start, length, ramp=0.15)
        ph = w * t + rng.uniform(0, 2 * np.pi)
        acc += (-(w ** 2) * r / G * env)[:, None] * (np.cos(ph)[:, None] * a + ratio * np.sin(ph)[:, None] * b)
    elif gesture == "punch":
        dist = rng.uniform(0.15, 0.4) * vigour
        dur = rng.uniform(0.12, 0.3) / tempo
        pause = rng.uniform(0.05, 0.25) / tempo
        back = rng.uniform(0.3, 0.6) / tempo
        total = dur + pause + back
        if start is None:
            start = rng.uniform(-0.05, t[-1] - dur - 0.05)       # the jab in view, maybe not the return
        elev = rng.normal(0, math.radians(15))
        d = math.cos(elev) * fwd + math.sin(elev) * up
        a = _min_jerk_acc(t - start, dist, dur) - _min_jerk_acc(t - start - dur - pause, dist, back)
        acc += np.outer(a / G, d)
        tilt = rng.uniform(5, 20) * math.pi / 180 * rng.choice([-1, 1])
        wob[:, 1] += tilt * _envelope(t, start, total, ramp=min(0.15, dur))
    else:
        raise ValueError(f"unknown gesture {gesture!r}; known: {GESTURES}")
    return acc, wob


def window(gesture, person, rng):
    """One window as the board reads it: [WINDOW, 3] int16 mg (x, y, z)."""
    t = np.arange(WINDOW) / (RATE_HZ * person["clock"])
    heading = rng.uniform(0, 2 * np.pi)
    acc, wob = motion(gesture, t, person, rng, heading)
    return _read(acc, wob, person, rng, heading)


def stream(person, rng, plan, seconds, idle="held"):
    """A continuous recording, [seconds * RATE_HZ, 3] int16 mg: the board held (idle kind
    `idle`) and the gestures of `plan`, a list of (gesture, start in s), on top."""
    t = np.arange(int(seconds * RATE_HZ)) / (RATE_HZ * person["clock"])
    heading = rng.uniform(0, 2 * np.pi)
    acc, wob = motion("idle", t, person, rng, heading, kind=idle)
    for gesture, start in plan:
        a, w = motion(gesture, t, person, rng, heading, start=start)
        acc, wob = acc + a, wob + w
    return _read(acc, wob, person, rng, heading)


def _read(acc, wob, person, rng, heading):
    """What the sensor reports for a motion: [T, 3] int16 mg."""
    roll = person["roll"] + rng.normal(0, math.radians(12)) + wob[:, 0]
    pitch = person["pitch"] + rng.normal(0, math.radians(12)) + wob[:, 1]
    yaw = heading + wob[:, 2]
    R = rot_z(yaw) @ rot_y(pitch) @ rot_x(roll)                        # board -> world, per reading
    f = np.einsum("tji,tj->ti", R, acc + np.array([0.0, 0.0, 1.0]))    # R^T (a + up), board axes
    f = f * person["gain"] + person["bias"] + rng.normal(0, person["noise"], f.shape)
    f = np.clip(f, -RANGE_G, RANGE_G - person["lsb"])
    f = np.round(f / person["lsb"]) * person["lsb"]
    return np.round(f * 1000).astype(np.int16)


def make_dataset(n_people=60, per_class=10, seed=0):
    """(windows [N, WINDOW, 3] int16 mg, labels [N], person id [N]) for n_people people."""
    rng = np.random.default_rng(seed)
    xs, ys, ids = [], [], []
    for p in range(n_people):
        person = random_person(rng)
        for k, name in enumerate(GESTURES):
            for _ in range(per_class):
                xs.append(window(name, person, rng))
                ys.append(k)
                ids.append(p)
    return np.stack(xs), np.array(ys), np.array(ids)


if __name__ == "__main__":
    x, y, ids = make_dataset(n_people=8, per_class=3)
    mag = np.linalg.norm(x / 1000.0, axis=2)
    print(f"{len(x)} windows of {WINDOW} readings ({WINDOW / RATE_HZ:.1f} s) from {ids.max() + 1} people")
    for k, name in enumerate(GESTURES):
        m = mag[y == k]
        print(f"  {name:6s} |a| mean {m.mean():.2f} g, sd within a window {m.std(axis=1).mean():.2f} g, "
              f"peak {m.max():.2f} g, clipped readings {np.mean(np.abs(x[y == k]) >= 3990):.1%}")
