# Reading the accelerometer, kept apart from the model.
#
# Every source gives windows: (name, readings), readings a list of 3 * 80 ints,
# x, y, z in mg for each of 80 readings at 50 Hz (1.6 s), oldest first.
#
#   Live()                      an MPU6050 or LIS3DH on I2C, read 50 times a
#                               second; a window every HOP readings (sliding)
#   Recorded("windows.json")    replays recorded windows: on the PC, in tests
#
# Works on MicroPython (machine.I2C) and CircuitPython (busio.I2C); each is
# imported only if present, so this file also loads in the unix port. The two
# chips are driven with a few register writes, no driver library needed.
import time

try:                                    # MicroPython
    import machine
except ImportError:
    machine = None
try:                                    # CircuitPython
    import board
    import busio
except ImportError:
    busio = None

# --- your wiring (see README) ---
I2C_ID = 0            # MicroPython: I2C bus number (ESP32: 0 or 1; RP2040: 0 for GP4/GP5)
SDA_PIN = 21          # MicroPython: ESP32 DevKit GPIO21; RP2040 GP4 -> 4
SCL_PIN = 22          # MicroPython: ESP32 DevKit GPIO22; RP2040 GP5 -> 5
RATE_HZ = 50
WINDOW = 80           # readings per window (1.6 s)
HOP = 25              # a new window every 25 readings (0.5 s)

_MPU_ADDRS = (0x68, 0x69)
_LIS_ADDRS = (0x18, 0x19)


class _Bus:
    """The few I2C calls we need, on MicroPython or CircuitPython."""

    def __init__(self):
        if machine is not None and hasattr(machine, "I2C"):
            self.i2c = machine.I2C(I2C_ID, sda=machine.Pin(SDA_PIN), scl=machine.Pin(SCL_PIN), freq=400000)
            self.cp = False
        elif busio is not None:
            self.i2c = busio.I2C(board.SCL, board.SDA, frequency=400000)
            self.cp = True
        else:
            raise OSError("no I2C here (machine.I2C or busio): use Recorded(file)")

    def scan(self):
        if not self.cp:
            return self.i2c.scan()
        while not self.i2c.try_lock():
            pass
        try:
            return self.i2c.scan()
        finally:
            self.i2c.unlock()

    def write(self, addr, reg, value):
        if not self.cp:
            self.i2c.writeto_mem(addr, reg, bytes((value,)))
            return
        while not self.i2c.try_lock():
            pass
        try:
            self.i2c.writeto(addr, bytes((reg, value)))
        finally:
            self.i2c.unlock()

    def read(self, addr, reg, buf):
        if not self.cp:
            self.i2c.readfrom_mem_into(addr, reg, buf)
            return
        while not self.i2c.try_lock():
            pass
        try:
            self.i2c.writeto_then_readfrom(addr, bytes((reg,)), buf)
        finally:
            self.i2c.unlock()


class Accel:
    """An MPU6050 (or MPU6500/9250) or LIS3DH, found on the bus, set to +-4 g."""

    def __init__(self, bus=None):
        self.bus = bus or _Bus()
        self.buf = bytearray(6)
        found = self.bus.scan()
        self.addr = None
        for a in _MPU_ADDRS:
            if a in found:
                self.addr, self.kind = a, "MPU6050"
                self.bus.write(a, 0x6B, 0x00)     # PWR_MGMT_1: wake up
                self.bus.write(a, 0x1A, 0x03)     # CONFIG: low-pass ~44 Hz
                self.bus.write(a, 0x1C, 0x08)     # ACCEL_CONFIG: +-4 g, 8192 counts per g
                break
        if self.addr is None:
            for a in _LIS_ADDRS:
                if a in found:
                    self.addr, self.kind = a, "LIS3DH"
                    self.bus.write(a, 0x20, 0x47)     # CTRL_REG1: 50 Hz, x y z on
                    self.bus.write(a, 0x23, 0x98)     # CTRL_REG4: block update, +-4 g, high resolution
                    break
        if self.addr is None:
            raise OSError("no MPU6050 (0x68/0x69) or LIS3DH (0x18/0x19) on I2C; found %s"
                          % [hex(a) for a in found])

    def read_mg(self):
        """(x, y, z) in whole mg."""
        b = self.buf
        if self.kind == "MPU6050":
            self.bus.read(self.addr, 0x3B, b)     # ACCEL_XOUT_H.., big endian
            out = []
            for i in (0, 2, 4):
                v = (b[i] << 8) | b[i + 1]
                v = v - 65536 if v > 32767 else v
                out.append((v * 1000 + 4096) // 8192)
            return out
        self.bus.read(self.addr, 0x28 | 0x80, b)  # OUT_X_L.., little endian, auto-increment
        out = []
        for i in (0, 2, 4):
            v = (b[i + 1] << 8) | b[i]
            v = v - 65536 if v > 32767 else v
            out.append((v >> 4) * 2)              # 12 bits, 2 mg each at +-4 g
        return out


def _ticks_ms():
    try:
        return time.ticks_ms()
    except AttributeError:                        # CircuitPython
        return time.monotonic_ns() // 1000000


def _sleep_until(t_ms):
    try:
        d = time.ticks_diff(t_ms, time.ticks_ms())
    except AttributeError:
        d = t_ms - _ticks_ms()
    if d > 0:
        time.sleep(d / 1000)


class Live:
    """Sliding windows from the accelerometer: one every HOP readings, named by the time in s.

    Readings are taken on a 20 ms schedule. While the model runs no readings
    are taken: if it takes longer than a reading or two, the schedule skips
    ahead (the window then covers a little more than 1.6 s)."""

    def __init__(self, accel=None):
        self.accel = accel or Accel()
        self.readings = []
        self.t0 = _ticks_ms()

    def __iter__(self):
        return self

    def __next__(self):
        period = 1000 // RATE_HZ
        r = self.readings
        need = 3 * WINDOW if len(r) < 3 * WINDOW else 3 * HOP
        t = _ticks_ms()
        for _ in range(need // 3):
            r.extend(self.accel.read_mg())
            t += period
            _sleep_until(t)
        if len(r) > 3 * WINDOW:
            del r[:len(r) - 3 * WINDOW]
        try:
            s = time.ticks_diff(_ticks_ms(), self.t0)
        except AttributeError:
            s = _ticks_ms() - self.t0
        return "%6.1f s" % (s / 1000), r


class Recorded:
    """Windows replayed from a JSON list of {"label": "shake", "mg": [240 ints]}; named by label.

    The file is read a line at a time, one window a line (as train.py writes
    it), so only one window is in RAM at once."""

    def __init__(self, path):
        self.path = path

    def __iter__(self):
        import json
        n = 0
        with open(self.path) as f:
            for line in f:
                line = line.strip().rstrip(",")
                if not line.startswith("{"):
                    continue                  # the list's brackets
                row = json.loads(line)
                n += 1
                yield "%d %s" % (n, row.get("label", "?")), row["mg"]


def have_hardware():
    return (machine is not None and hasattr(machine, "I2C")) or busio is not None
