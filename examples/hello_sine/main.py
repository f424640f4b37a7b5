# hello_sine: the first model on a board. A tiny network learnt y = sin(x) for
# x in [0, 2*pi]; this prints x, the true sin(x), what the int8 model says, and
# a little plot ('.' true sine, '*' the model, '|' zero).
#
# On a board: copy the motes runtime, hello_sine.mote and this file; it runs at
# boot. Set LED_PIN below to also fade an LED with the model's output.
# On the PC (MicroPython unix port):
#   MICROPYPATH=../../device micropython main.py [points]
import sys
import math

import motes

MODEL = "hello_sine.mote"
POINTS = 21           # x values printed, evenly from 0 to 2*pi
WIDTH = 41            # characters of the plot, -1 .. +1

# LED fading (optional): a PWM-capable pin, or None to skip. MicroPython: a pin
# number (ESP32 DevKit's blue LED is 2; a Raspberry Pi Pico's is 25; a Pico W's
# LED is behind the Wi-Fi chip and cannot fade). CircuitPython: a board pin
# name, e.g. "LED".
LED_PIN = None
GLOW_SECONDS = 10

try:                                  # MicroPython
    import machine
except ImportError:
    machine = None
try:                                  # CircuitPython
    import board
    import pwmio
except ImportError:
    pwmio = None


def xs_of(points):
    """`points` evenly spaced x values from 0 to 2*pi (both ends included)."""
    if points < 2:
        return [0.0]
    return [2 * math.pi * i / (points - 1) for i in range(points)]


def plot(truth, model):
    """One plot row: '|' at 0, '.' at the true value, '*' at the model's (on top)."""
    row = [" "] * WIDTH
    row[WIDTH // 2] = "|"
    for v, c in ((truth, "."), (model, "*")):
        i = int((v + 1) * (WIDTH - 1) / 2 + 0.5)
        row[min(WIDTH - 1, max(0, i))] = c
    return "".join(row)


def table(net, xs):
    print("    x  sin(x)   model  -1%s+1" % ("0".center(WIDTH - 4)))
    for x in xs:
        y = net.predict([x])[0]
        s = math.sin(x)
        print("%5.2f  %6.3f  %6.3f  %s" % (x, s, y, plot(s, y)))


def _led():
    if LED_PIN is None:
        return None
    if machine is not None and hasattr(machine, "PWM"):
        pwm = machine.PWM(machine.Pin(LED_PIN))
        pwm.freq(1000)
        return lambda v: pwm.duty_u16(v)
    if pwmio is not None:
        pwm = pwmio.PWMOut(getattr(board, LED_PIN), frequency=1000)

        def set_duty(v):
            pwm.duty_cycle = v
        return set_duty
    return None


def glow(net, seconds=GLOW_SECONDS, period_s=2.0):
    """Fade the LED with the model's sine: x sweeps 0 .. 2*pi once per period."""
    led = _led()
    if led is None:
        return
    import time
    steps = 50
    for n in range(int(seconds / period_s * steps)):
        x = 2 * math.pi * (n % steps) / steps
        y = net.predict([x])[0]
        led(int(max(0.0, min(1.0, (y + 1) / 2)) * 65535))
        time.sleep(period_s / steps)
    led(0)


def main(source=None):
    """Print the table for `source` (a number of points or a list of x values)."""
    if source is None:
        source = int(sys.argv[1]) if len(sys.argv) > 1 else POINTS
    xs = xs_of(source) if isinstance(source, int) else source
    net = motes.load(MODEL, verbose=False)
    print(net)
    table(net, xs)
    glow(net)


if __name__ == "__main__":
    main()
