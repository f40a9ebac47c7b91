"""Render a sample report.html in headless Chromium, save a screenshot, check it is not blank.

Builds a report from synthetic points (tracker.fit.synthetic.demo_points), renders it with
Debian's `chromium` (`apt-get install -y chromium`), and checks the PNG: not blank (pixel
standard deviation), and with coloured (figure) pixels in it. Prints the screenshot path.

Usage: .venv/bin/python bench/screenshot_report.py [--out DIR]
Exit status: 0 ok, 1 check failed, 3 chromium missing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.image import imread

from tracker.fit.synthetic import demo_points
from tracker.fit.table import fit_table
from tracker.report import build_report

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)


def screenshot(html: Path, png: Path, chromium: str, size: str = "1400,3000") -> Path:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                        f"--screenshot={png}", f"--window-size={size}", html.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
    return png


def check_image(png: Path) -> tuple[float, float]:
    """(pixel standard deviation, fraction of strongly coloured pixels)."""
    pixels = imread(png)[..., :3].astype(float)
    saturation = pixels.max(axis=2) - pixels.min(axis=2)
    return float(pixels.std()), float((saturation > 0.25).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path,
                        default=Path(tempfile.gettempdir()) / "tracker_sample_report")
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        print("chromium not found: apt-get install -y chromium", file=sys.stderr)
        return 3
    table = fit_table(demo_points(np.random.default_rng(3)))
    files = build_report(table, args.out)
    png = screenshot(files.html, args.out / "screenshot.png", chromium)
    spread, coloured = check_image(png)
    print(f"screenshot {png}: pixel std {spread:.3f}, coloured fraction {coloured:.3f}")
    ok = spread > 0.05 and coloured > 0.002
    print("ok: not blank, figures visible" if ok else "FAILED: blank or no figures")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
