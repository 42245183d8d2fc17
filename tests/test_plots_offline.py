"""The plots page of `dvc plots show` / `dvc plots diff` renders offline.

DVC's default page loads vega from a CDN; `.dvc/config` points
`plots.html_template` at `.dvc/plots/index.html`, which inlines vega, vega-lite
and vega-embed (`.ci/plots_template.py`). Checked by rendering the page in
headless Chromium with every network request sent to a dead proxy: each data
plot of dvc.yaml must have drawn its canvas. Skipped where Chromium is absent
(Debian: `apt-get install chromium`), unless ``HYPERLAB_REQUIRE_CHROMIUM=1``
(``.ci/run`` sets it after installing it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _dvc(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=True
    )


def render_dom(page: Path, profile: Path) -> str:
    """The page's DOM after its scripts ran, in headless Chromium with no network."""
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",  # any fetch would fail
        "--virtual-time-budget=30000",
        "--dump-dom",
        page.as_uri(),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=True).stdout


def vega_plot_ids() -> list[str]:
    """The data plots dvc.yaml defines (its image plots need no script)."""
    plots = yaml.safe_load((REPO / "dvc.yaml").read_text())["plots"]
    return [next(iter(p)) for p in plots if isinstance(p, dict)]


def test_the_template_has_no_cdn_and_keeps_dvc_placeholders():
    page = (REPO / ".dvc" / "plots" / "index.html").read_text(encoding="utf8")
    assert "{plot_divs}" in page and "{scripts}" not in page  # {scripts} is where DVC puts its CDN tags
    assert not re.search(r"<script[^>]+src=", page)
    for lib in ("vega@5.20.2", "vega-lite@5.2.0", "vega-embed@6.18.2"):
        assert f"/* {lib} */" in page
    assert "plots/index.html" in (REPO / ".dvc" / "config").read_text()


def test_dvc_plots_folder_is_ignored():
    # `dvc plots diff` writes dvc_plots/ by default: it must leave `git status` clean
    out = subprocess.run(["git", "check-ignore", "dvc_plots/index.html"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, "dvc_plots/ is not ignored by git"


@pytest.mark.slow
def test_plots_page_renders_every_data_plot_offline(tmp_path):
    if CHROMIUM is None:
        if os.environ.get("HYPERLAB_REQUIRE_CHROMIUM") == "1":
            pytest.fail("chromium not found (Debian: apt-get install chromium)")
        pytest.skip("chromium not installed (Debian: apt-get install chromium)")
    _dvc("plots", "show", "-o", str(tmp_path / "out"))
    page = tmp_path / "out" / "index.html"
    assert "cdn.jsdelivr" not in page.read_text(encoding="utf8")
    dom = render_dom(page, tmp_path / "profile")
    ids = vega_plot_ids()
    assert len(ids) >= 10
    drawn = re.findall(r'<canvas width="(\d+)" height="(\d+)" class="marks">', dom)
    assert len(drawn) == len(ids) and all(int(w) > 0 and int(h) > 0 for w, h in drawn)
    for plot in ids:
        assert re.search(rf'<div id="{re.escape(plot)}"[^>]*class="vega-embed', dom), f"{plot} not drawn"
