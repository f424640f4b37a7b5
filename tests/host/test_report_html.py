"""`motes report`: the HTML page, checked in a real browser (headless Chromium from
Debian's packages: make setup installs it, so under CI=true a missing browser fails).
Chromium's own command line does the work: --dump-dom for the page as rendered,
--screenshot for the picture, --enable-logging=stderr for the console (each console
message is a CONSOLE line; a page with a console.error proves the check sees them)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, missing_tool
from motes import api
from motes.learn import compress
from motes.run import report_html
from motes import format as mote_format

GESTURE = ROOT / "examples" / "gesture" / "gesture.mote"
SOIL = ROOT / "examples" / "soil_moisture" / "soil.mote"


def chromium() -> str:
    exe = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    missing_tool(None if exe else "chromium is not installed (apt-get install chromium; make setup does it)")
    return exe


def browse(page, tmp_path, what: str, *extra) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{what}"        # a fresh profile: nothing from an earlier run
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *extra, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def console(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    out = d / "gesture.html"
    out.write_text(report_html.build(GESTURE), encoding="utf-8")
    return out


def test_page_is_self_contained(page):
    text = page.read_text()
    assert "<script" not in text and "<link" not in text and "@import" not in text
    assert not re.search(r"(src|href)=|url\(|https?://", text)        # nothing to fetch
    assert 'name="viewport"' in text                                   # laid out for a phone


def test_chromium_shows_every_layer_without_console_errors(page, tmp_path):
    model, _, _ = api.load_model(GESTURE)
    r = browse(page, tmp_path, "dom", "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    assert console(r.stderr) == [], console(r.stderr)
    rows = re.findall(r'<tr class="layer">(.*?)</tr>', r.stdout, re.S)
    assert len(rows) == len(model.layers) == 10
    for row, layer in zip(rows, model.layers):
        assert f">{layer.op}<" in row
    assert r.stdout.count("<svg") >= 5                                 # bytes, RAM x2, arena, compute
    assert "idle, shake, circle, punch" in r.stdout
    if shutil.which("arm-none-eabi-gcc"):              # motes bench --isa armv6m ran: a column per layer
        assert "M0 instructions" in rows[0] or "M0 instructions" in r.stdout
        assert re.search(r'<td class="">[\d,]+</td><td class="">[\d.]+</td>$', rows[0])   # instructions, µs at 133 MHz
    # the check sees console errors when there are some
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><script>console.error("report-check-" + 42)</script></body></html>')
    r = browse(bad, tmp_path, "bad", "--dump-dom")
    assert any("report-check-42" in ln for ln in console(r.stderr)), r.stderr[-2000:]


def test_screenshot_is_not_blank(page, tmp_path):
    from PIL import Image
    shot = tmp_path / "shot.png"
    r = browse(page, tmp_path, "shot", "--hide-scrollbars", "--window-size=412,1800", f"--screenshot={shot}")
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    img = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert img.shape == (1800, 412)
    assert img.std() > 20                                   # text, tables and bars, not one colour
    assert len(np.unique(img)) > 50


def test_escapes_text_from_the_file_and_shows_stages(tmp_path):
    m = mote_format.from_bytes(SOIL.read_bytes())
    m.meta = dict(m.meta, name='<b>pot & "co"</b>', labels=["<script>alert(1)</script>", "ok", "w&t"])
    evil = tmp_path / "evil.mote"
    evil.write_bytes(mote_format.to_bytes(m))
    stage = compress.Stage("prune", 700, 6.5, 216, 483, 6824, 0.92, 0.91, sparsity=0.5)
    (tmp_path / "staged.mote").write_bytes(compress.with_stages(evil.read_bytes(), [stage]))
    text = report_html.build(tmp_path / "staged.mote", m0=False)
    assert "<script>" not in text and "<b>pot" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&lt;b&gt;pot &amp; &quot;co&quot;&lt;/b&gt;" in text
    assert "w&amp;t" in text
    assert "Compression stages" in text and ">prune<" in text and ">50.0 %<" in text and ">92.00 %<" in text
    # a .mote without the table, and the saved output of motes compress --json
    (tmp_path / "c.json").write_text(json.dumps({"stages": [stage.row()], "output": "x.mote"}))
    assert "Compression stages" not in report_html.build(evil, m0=False)
    text = report_html.build(evil, m0=False, stages=report_html.load_stages(tmp_path / "c.json"))
    assert ">prune<" in text and ">6,824<" in text


def test_report_from_the_command_line_with_data(tmp_path):
    x = np.random.default_rng(0).normal(0, 1, (40, 4)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 3, 40)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    out = tmp_path / "soil.html"
    r = subprocess.run([sys.executable, "-m", "motes.cli", "report", str(SOIL), "--data", str(tmp_path / "d.npz"),
                        "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "Accuracy" in text and "true \\ predicted" in text and "40 samples" in text
    bad = subprocess.run([sys.executable, "-m", "motes.cli", "report", str(tmp_path / "nope.mote"), "-o",
                          str(out)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
