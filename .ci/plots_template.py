#!/usr/bin/env python3
"""Build .dvc/plots/index.html: DVC's plots page with vega, vega-lite and vega-embed inlined.

DVC's default page loads the three libraries from a CDN, so on an offline
machine its data plots stay empty. `.dvc/config` sets `plots.html_template`
to this page instead. The libraries are the versions dvc-render itself pins
(dvc_render/vega.py), taken once from the npm registry:

    npm pack vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2
    for f in *.tgz; do mkdir -p "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done
    python .ci/plots_template.py <that folder>

Checked offline by tests/test_plots_offline.py (headless Chromium).
"""

from __future__ import annotations

import sys
from pathlib import Path

LIBS = (
    ("vega", "5.20.2", "vega.min.js"),
    ("vega-lite", "5.2.0", "vega-lite.min.js"),
    ("vega-embed", "6.18.2", "vega-embed.min.js"),
)
OUT = Path(__file__).resolve().parents[1] / ".dvc" / "plots" / "index.html"

PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>hyperlab plots</title>
    <!-- {credits}; each BSD-3-Clause, Copyright (c) University of Washington Interactive Data Lab -->
{inline}
    <style>
        table {{ border-spacing: 15px; }}
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def build(folder: Path) -> str:
    """The page: DVC fills {plot_divs} and {refresh_tag}; there is no {scripts}, so nothing comes from a CDN."""
    scripts = []
    for name, version, file in LIBS:
        code = (folder / f"{name}-{version}" / "package" / "build" / file).read_text(encoding="utf8")
        if "</script" in code or "{plot_divs}" in code:
            raise SystemExit(f"error: {file} cannot be inlined as is")
        scripts.append(f"    <script>/* {name}@{version} */\n{code}\n    </script>")
    credits = ", ".join(f"{n}@{v}" for n, v, _ in LIBS)
    return PAGE.format(refresh_tag="{refresh_tag}", plot_divs="{plot_divs}", credits=credits, inline="\n".join(scripts))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python .ci/plots_template.py <folder with the unpacked npm packages>")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(build(Path(sys.argv[1])), encoding="utf8")
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} kB)")
