# Reading the sensors, kept apart from the model.
#
# Every source gives readings as dicts:
#   {"time": "06:15", "moisture": 38211, "temp_c": 21.4, "rh": 55}
# moisture is the probe's raw read_u16 count (0..65535: high = dry, low = wet).
#
#   Live()               the real probe (+ a DHT22 for temperature/humidity)
#   Recorded("day.json") replays a file of readings (JSON list, or CSV with a
#                        header time,moisture,temp_c,rh): on the PC, in tests
#
# Works on MicroPython (machine.ADC) and CircuitPython (analogio); each is
# imported only if present, so this file also loads in the unix port.
import time

try:                                    # MicroPython
    import machine
except ImportError:
    machine = None
try:                                    # CircuitPython
    import analogio
    import board
except ImportError:
    analogio = None

# --- your wiring (see README) ---
PROBE_PIN = 34        # MicroPython: ESP32 GPIO34 (ADC1), RP2040: 26 (GP26 = ADC0)
PROBE_PIN_CP = "A0"   # CircuitPython: board.A0
DHT_PIN = 4           # DHT22 data pin; None if you have no temperature/humidity sensor
AVERAGE = 16          # ADC reads averaged per reading (the ESP32 ADC is noisy)
NO_CLIMATE = (20.0, 50)  # used when there is no DHT22: 20 C, 50 % RH

_adc = None


def read_probe():
    """The probe's raw count, 0..65535 (read_u16 scale), averaged over AVERAGE reads."""
    global _adc
    if _adc is None:
        if machine is not None and hasattr(machine, "ADC"):
            _adc = machine.ADC(machine.Pin(PROBE_PIN))
            if hasattr(_adc, "atten"):          # ESP32: full 0..3.3 V range
                _adc.atten(machine.ADC.ATTN_11DB)
        elif analogio is not None:
            _adc = analogio.AnalogIn(getattr(board, PROBE_PIN_CP))
        else:
            raise OSError("no ADC here (machine.ADC or analogio): use Recorded(file)")
    total = 0
    for _ in range(AVERAGE):
        total += _adc.read_u16() if hasattr(_adc, "read_u16") else _adc.value
        time.sleep_ms(2) if hasattr(time, "sleep_ms") else time.sleep(0.002)
    return total // AVERAGE


_dht = None


def read_climate():
    """(temperature C, relative humidity %) from a DHT22, or NO_CLIMATE without one."""
    global _dht
    if DHT_PIN is None:
        return NO_CLIMATE
    try:
        if _dht is None:
            if machine is not None:
                import dht
                _dht = dht.DHT22(machine.Pin(DHT_PIN))
            else:
                import adafruit_dht             # CircuitPython library bundle
                _dht = adafruit_dht.DHT22(getattr(board, "D%d" % DHT_PIN))
        if hasattr(_dht, "measure"):
            _dht.measure()
            return _dht.temperature(), _dht.humidity()
        return _dht.temperature, _dht.humidity
    except (OSError, RuntimeError, ImportError) as e:   # DHTs time out now and then
        print("climate sensor:", e)
        return NO_CLIMATE


class Live:
    """Real readings every `every_min` minutes (the model was trained on 15)."""

    def __init__(self, every_min=15):
        self.every_s = every_min * 60
        self.first = True

    def __iter__(self):
        return self

    def __next__(self):
        if not self.first:
            time.sleep(self.every_s)
        self.first = False
        t = time.localtime()
        temp, rh = read_climate()
        return {"time": "%02d:%02d" % (t[3], t[4]), "moisture": read_probe(), "temp_c": temp, "rh": rh}


class Recorded:
    """Readings replayed from a JSON list of dicts or a CSV file with a header line."""

    def __init__(self, path):
        self.path = path

    def __iter__(self):
        if self.path.endswith(".json"):
            import json
            with open(self.path) as f:
                rows = json.load(f)
            for r in rows:
                yield r
            return
        with open(self.path) as f:
            names = [s.strip() for s in f.readline().split(",")]
            for line in f:
                if line.strip():
                    r = dict(zip(names, [s.strip() for s in line.split(",")]))
                    r["moisture"] = int(r["moisture"])
                    r["temp_c"] = float(r["temp_c"])
                    r["rh"] = float(r["rh"])
                    yield r


def have_hardware():
    return (machine is not None and hasattr(machine, "ADC")) or analogio is not None
