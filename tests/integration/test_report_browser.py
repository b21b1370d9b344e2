"""The HTML report in a real headless browser: it loads, has the table and shows the figures."""

import io
import shutil
import subprocess

import pytest
from rich.console import Console

from retain.runs.collect import stat
from retain.runs.pages import write_report
from tests.runfolders import make_run

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium/Chrome installed (apt-get install chromium)")


def _browser(tmp_path, *args):
    profile = tmp_path / "profile"  # a fresh profile: nothing from an earlier session
    return subprocess.run(
        [BROWSER, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=120
    )


def test_html_report_renders_table_and_images(tmp_path):
    root = tmp_path / "runs"
    for seed in (0, 1, 2):
        make_run(root / f"ft-{seed}", "finetuning", seed, [[0.99], [0.7 + 0.05 * seed, 0.98], [0.6, 0.8, 0.97]])
        make_run(
            root / f"lwf-{seed}", "lwf", seed, [[0.99], [0.9 + 0.02 * seed, 0.97], [0.88 + 0.03 * seed, 0.9, 0.96]]
        )
    report = write_report([root], tmp_path / "report", console=Console(file=io.StringIO()))
    url = report.html.resolve().as_uri()
    dom = _browser(tmp_path, "--dump-dom", url).stdout
    lwf_final = stat((0.88 + 0.03 * seed + 0.9 + 0.96) / 3 for seed in (0, 1, 2)).format()
    assert '<table class="results">' in dom and lwf_final in dom and "3 (0, 1, 2)" in dom
    assert dom.count("<img") == 1 + 2 + 1 + 1
    shot = tmp_path / "screenshot.png"
    _browser(tmp_path, f"--screenshot={shot}", "--window-size=1200,1800", "--hide-scrollbars", url)
    assert shot.exists(), "the browser wrote no screenshot"
    from matplotlib.image import imread

    pixels = imread(shot)[..., :3].reshape(-1, 3)
    colours = {tuple(p) for p in (pixels[::7] * 255).round().astype(int).tolist()}
    # a page of text only has a few dozen colours; the plots' colormaps and anti-aliasing add hundreds
    assert len(colours) > 300, f"screenshot looks blank or image-less ({len(colours)} colours)"
