"""What the examples' train.py scripts share: where a retrained model goes.

Retraining never silently rewrites an example's committed files (model.keras,
calib.npy, the .mote...): `--write` replaces them, `--out DIR` writes the new
ones there, and with neither the script trains in a temporary folder, prints
its figures and leaves everything as it was.
"""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path


def add_options(parser) -> None:
    parser.add_argument("--out", help="write the trained files to this folder")
    parser.add_argument("--write", action="store_true",
                        help="replace this example's committed files with the newly trained ones")


@contextmanager
def output_folder(args, example: Path):
    """The folder train() writes into, chosen by --out / --write (a temporary one without)."""
    if args.out or args.write:
        yield Path(args.out or example)
        return
    with tempfile.TemporaryDirectory(prefix="motes-train-") as tmp:
        yield Path(tmp)
    print("(trained in a temporary folder: nothing here was changed; --write replaces this example's "
          "files, --out DIR keeps the new ones there)")
