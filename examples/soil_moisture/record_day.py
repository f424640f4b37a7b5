"""Write day.json: 24 h of simulated readings (every 15 min) for the demo.

    ../../.venv/bin/python record_day.py [--seed 1] [-o day.json]

Each reading also carries the simulator's true VWC and label (true_vwc,
true_label) so you can see how the board did; main.py ignores them.
"""
import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import data  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description="write a day of soil readings as JSON")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("-o", "--output", default=str(HERE / "day.json"))
    a = p.parse_args(argv)
    day = data.day_of_readings(a.seed)
    with open(a.output, "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(r) for r in day) + "\n]\n")
    print(f"wrote {a.output}: {len(day)} readings")


if __name__ == "__main__":
    main()
