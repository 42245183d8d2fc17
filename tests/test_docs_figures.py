"""``docs/figures.md`` shows every figure under ``plots/figures/``, and only figures that exist.

``gallery_problems`` is the whole check: rerun it (or this file) after figures are added, renamed
or removed, and it names each PNG missing from the page and each image the page shows that is not
there.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "figures.md"
FIGURES = REPO / "plots" / "figures"

# <img src="..."> (the gallery's thumbnails) and markdown images ![alt](target "title").
_IMG = re.compile(r"""<img\s[^>]*?src\s*=\s*["']([^"']+)["']""", re.I)
_MD_IMG = re.compile(r"!\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def shown_images(text: str, page: Path) -> set[Path]:
    """Every image ``text`` (the page at ``page``) shows, resolved to a path."""
    targets = _IMG.findall(text) + _MD_IMG.findall(text)
    return {(page.parent / t).resolve() for t in targets if not re.match(r"[a-z]+:", t)}


def gallery_problems(page: Path = PAGE, figures: Path = FIGURES) -> list[str]:
    """One line per PNG under ``figures`` the page does not show, and per image it shows that is missing."""
    shown = shown_images(page.read_text(), page)
    drawn = {p.resolve() for p in figures.rglob("*.png")}
    root = figures.parent.parent
    out = [f"{page.name}: {p.relative_to(root)} is not in the gallery" for p in sorted(drawn - shown)]
    out += [f"{page.name}: shows {p}, which does not exist" for p in sorted(shown) if not p.is_file()]
    return out


def test_the_gallery_shows_every_figure_and_only_existing_ones():
    found = gallery_problems()
    assert not found, "\n".join(found)


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the page and of plots/figures/ with the same relative layout (docs/, plots/figures/)."""
    figures = tmp_path / "plots" / "figures"
    shutil.copytree(FIGURES, figures)
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "figures.md"
    page.write_text(PAGE.read_text())
    return page, figures


def test_a_figure_missing_from_the_gallery_is_caught(tmp_path):
    page, figures = _copy(tmp_path)
    before = set(gallery_problems(page, figures))  # compared with, so the plant is caught on any tree
    (figures / "bilevel" / "bilevel_new.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    found = set(gallery_problems(page, figures)) - before
    assert found == {"figures.md: plots/figures/bilevel/bilevel_new.png is not in the gallery"}


def test_a_removed_reference_and_a_dangling_image_are_caught(tmp_path):
    page, figures = _copy(tmp_path)
    before = set(gallery_problems(page, figures))
    text = page.read_text()
    row = next(line for line in text.splitlines() if "l2l_base.png" in line)
    page.write_text(text.replace(row + "\n", "") + '\n<img src="../plots/figures/l2l/gone.png" width="360">\n')
    found = set(gallery_problems(page, figures)) - before
    assert len(found) == 2, found
    assert any("l2l/l2l_base.png is not in the gallery" in p for p in found), found
    assert any("gone.png, which does not exist" in p for p in found), found
