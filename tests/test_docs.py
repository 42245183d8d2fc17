"""The docs cannot drift from the committed files: links, paths, metric keys and headline numbers.

Checked in ``README.md`` and every ``docs/*.md``:

* every relative link and image points to a file that exists, and an ``#anchor`` to a heading
  of that file;
* every ``src/...``, ``stages/...``, ``metrics/...`` and ``plots/...`` path written in backticks
  exists (paths with a placeholder such as ``<stage>``, ``*`` or ``{a,b}`` are patterns, not paths);
* the metrics table of ``docs/pipeline.md`` (header ``| file | keys |``) names exactly the keys of
  every committed ``metrics/*.json``, and every such file has a row;
* every ``from hyperlab... import ...`` line of a code example names a module and names that
  exist (the only check that imports the library);
* every number in the README's "Results at a glance" table is a link whose title names its
  source, ``[0.0005](docs/page.md "metrics/search.json: gp_ei_median_regret")``; the value read
  from that file and key, rounded as the number is written (as many decimals, or significant
  digits for ``1.3e-7``), must equal it. A key is a dotted path into the JSON; ``name=value``
  picks the element of a list whose ``name`` is ``value``. No other number may stand in the
  result column, except as a label (``order 1``, ``Hartmann-6``).

Reads text and JSON only (no JAX), except for the import lines of the code examples.
"""

from __future__ import annotations

import importlib
import json
import re
import unicodedata
from pathlib import Path

import pytest

from conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CHECKED_ROOTS = ("src/", "stages/", "metrics/", "plots/")

# ----------------------------------------------------------------------------------------- reading

_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+\"(?P<title>[^\"]*)\")?\)")
_CODE = re.compile(r"`([^`\n]+)`")


def _prose(text: str) -> str:
    """``text`` without fenced code blocks (their contents are commands, not links)."""
    return _FENCE.sub("", text)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip()).lower()
    text = "".join(ch for ch in text if ch in " -" or unicodedata.category(ch)[0] in "LN")
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in _prose(text).splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


# ----------------------------------------------------------------------------------------- checkers


def link_problems(text: str, where: Path) -> list[str]:
    """Relative links and images of ``text`` (a file at ``where``) whose file or anchor is missing."""
    out = []
    for m in _LINK.finditer(_prose(text)):
        target = m.group("target")
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (where.parent / path).resolve() if path else where
        name = f"{where.relative_to(REPO)}: link {target!r}"
        if not file.exists():
            out.append(f"{name}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text()):
            out.append(f"{name}: no heading #{anchor} in {file.relative_to(REPO)}")
    return out


def path_problems(text: str, where: Path) -> list[str]:
    """Paths under src/, stages/, metrics/, plots/ written in backticks that do not exist."""
    out = []
    for code in _CODE.findall(_prose(text)):
        path = code.strip()
        if not path.startswith(CHECKED_ROOTS) or " " in path or re.search(r"[<>*{}…]", path):
            continue
        if not (REPO / path.rstrip("/")).exists():
            out.append(f"{where.relative_to(REPO)}: `{path}` does not exist")
    return out


def flat_keys(obj, prefix: str = "") -> set[str]:
    """Dotted keys of the leaves of a JSON object."""
    if isinstance(obj, dict):
        return {k for name, v in obj.items() for k in flat_keys(v, f"{prefix}{name}.")}
    return {prefix.rstrip(".")}


def metrics_table(text: str) -> dict[str, list[str]]:
    """``{metrics file: [keys]}`` from the table whose header starts ``| file | keys |``."""
    rows, lines = {}, text.splitlines()
    for n, line in enumerate(lines):
        if re.match(r"\|\s*file\s*\|\s*keys\s*\|", line):
            for row in lines[n + 2 :]:
                if not row.startswith("|"):
                    break
                cells = [c.strip() for c in row.strip().strip("|").split("|")]
                rows[cells[0].strip("`")] = _CODE.findall(cells[1])
    return rows


def metrics_problems(text: str, repo: Path = REPO) -> list[str]:
    """Keys the metrics table names that the committed files lack, and keys or files it omits."""
    table = metrics_table(text)
    if not table:
        return ["docs/pipeline.md: no metrics table (header `| file | keys |`)"]
    out = []
    committed = {f"metrics/{p.name}" for p in (repo / "metrics").glob("*.json")}
    for file in sorted(committed - set(table)):
        out.append(f"metrics table: `{file}` is not described")
    for file, keys in table.items():
        if file not in committed:
            out.append(f"metrics table: `{file}` is not a committed metrics file")
            continue
        have = flat_keys(json.loads((repo / file).read_text()))
        stage = Path(file).stem
        report = repo / "plots" / stage / "report.json"
        known = have | (flat_keys(json.loads(report.read_text())) if report.exists() else set())
        out += [f"metrics table: `{file}` has no key `{k}`" for k in keys if k not in known]
        out += [f"metrics table: `{file}` key `{k}` is not described" for k in sorted(have - set(keys))]
    return out


# ----------------------------------------------------------------------------------------- the glance table

#: a number as the pages write it: thousands separated by commas (12,705), decimals, an exponent
_NUMBER = re.compile(r"^[-−]?\d{1,3}(?:,\d{3})+(?![\d.])|^[-−]?\d+(?:\.\d+)?(?:e[-−+]?\d+)?")
#: Words after which a bare number is a label, not a result (``order 1``, ``Hartmann-6``).
_LABEL = re.compile(r"(?:order|orders|seed|seeds|part|K =|Hartmann-)\s?$")


def glance_rows(text: str) -> list[list[str]]:
    """The cells of every row of the table under the "Results at a glance" heading."""
    part = text.split("## Results at a glance", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in part.splitlines() if line.startswith("|")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]] for row in rows[2:]]


def lookup(source: str, repo: Path = REPO):
    """The value a source ``"file: dotted.key"`` names (``name=value`` picks a list element)."""
    file, _, key = (s.strip() for s in source.partition(":"))
    node = json.loads((repo / file).read_text())
    for part in key.split("."):
        if isinstance(node, list):
            name, _, want = part.partition("=")
            node = next(item for item in node if str(item.get(name)) == want)
        else:
            node = node[part]
    return node


def matches(shown: str, value) -> bool:
    """``value`` rounded as ``shown`` is written equals ``shown`` (thousands separators read as none)."""
    shown = shown.replace("−", "-").replace(",", "")
    if "e" in shown:
        mantissa = shown.split("e")[0]
        digits = len(mantissa.split(".")[1]) if "." in mantissa else 0
        return float(f"{float(value):.{digits}e}") == float(shown)
    digits = len(shown.split(".")[1]) if "." in shown else 0
    return f"{float(value):.{digits}f}" == shown


def glance_problems(text: str, repo: Path = REPO) -> list[str]:
    rows = glance_rows(text)
    if not rows:
        return ["README: no results-at-a-glance table"]
    out = []
    for cells in rows:
        name, result = cells[0], cells[-1]
        cited = 0
        for m in _LINK.finditer(result):
            number = _NUMBER.match(m.group("text"))
            if not number:
                continue
            cited += 1
            shown, source = number.group(0), m.group("title")
            if not source:
                out.append(f"README glance {name}: {shown} names no source (link title)")
                continue
            try:
                value = lookup(source, repo)
            except (OSError, KeyError, StopIteration, json.JSONDecodeError) as err:
                out.append(f"README glance {name}: {shown}: source {source!r} not found ({err!r})")
                continue
            if not matches(shown, value):
                out.append(f"README glance {name}: {shown} but {source} is {value!r}")
        bare = _LINK.sub(" ", result)
        for m in re.finditer(r"(?<![\w.\-−])[-−]?\d+(?:[.,]\d+)*", bare):
            if not _LABEL.search(bare[: m.start()]):
                out.append(f"README glance {name}: bare number {m.group(0)!r} names no source")
        if not cited:
            out.append(f"README glance {name}: no sourced number")
    return out


# ----------------------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_and_images_exist(page):
    assert not link_problems(page.read_text(), page), "\n".join(link_problems(page.read_text(), page))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_paths_in_backticks_exist(page):
    assert not path_problems(page.read_text(), page), "\n".join(path_problems(page.read_text(), page))


def test_every_metric_is_described_and_exists():
    found = metrics_problems((REPO / "docs" / "pipeline.md").read_text())
    assert not found, "\n".join(found)


def test_glance_numbers_equal_the_committed_values():
    text = (REPO / "README.md").read_text()
    assert len(glance_rows(text)) >= 8
    found = glance_problems(text)
    assert not found, "\n".join(found)


_IMPORT = re.compile(r"^from (hyperlab[\w.]*) import ([\w, ]+)$", re.M)


def import_problems(text: str) -> list[str]:
    """Import lines of code examples whose module or names do not exist."""
    out = []
    for block in _FENCE.findall(text):
        for module, names in _IMPORT.findall(block):
            try:
                found = importlib.import_module(module)
            except ImportError as err:
                out.append(f"from {module} import ...: {err}")
                continue
            out += [
                f"from {module} import {n}: no such name"
                for n in (x.strip() for x in names.split(","))
                if not hasattr(found, n)
            ]
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_code_examples_import_what_exists(page):
    assert not import_problems(page.read_text()), "\n".join(import_problems(page.read_text()))


def test_a_moved_module_in_an_example_is_caught():
    text = "```python\nfrom hyperlab.selection.gp import GPEISampler\nfrom hyperlab.io import nothing\n```\n"
    found = import_problems(text)
    assert len(found) == 2 and "hyperlab.selection.gp" in found[0] and "nothing" in found[1]


def test_the_readme_stays_an_overview():
    """Details belong on the docs pages; the README is one screenful of orientation."""
    assert len((REPO / "README.md").read_text().splitlines()) <= 200


def test_every_experiment_page_is_linked_from_the_readme():
    text = (REPO / "README.md").read_text()
    linked = {Path(t).name for t in re.findall(r"\]\(docs/([^)#\s]+)", text)}
    assert {p.name for p in PAGES[1:]} <= linked


# ----------------------------------------------------------------------------------------- planted drift


README_TEXT = (REPO / "README.md").read_text()
PIPELINE_TEXT = (REPO / "docs" / "pipeline.md").read_text()


def test_a_broken_link_is_caught():
    bad = README_TEXT.replace("(docs/drmad.md)", "(docs/dr-mad.md)", 1)
    assert any("docs/dr-mad.md" in p and "no such file" in p for p in link_problems(bad, REPO / "README.md"))


def test_a_broken_anchor_and_image_are_caught():
    bad = README_TEXT.replace("docs/pipeline.md#how-long-it-takes", "docs/pipeline.md#how-long", 1)
    assert any("no heading #how-long" in p for p in link_problems(bad, REPO / "README.md"))
    page = REPO / "docs" / "hpo.md"
    bad = page.read_text().replace("hpo_best.png", "hpo_bets.png")
    assert any("hpo_bets.png" in p for p in link_problems(bad, page))


def test_a_missing_path_is_caught():
    bad = PIPELINE_TEXT + "\nSee `plots/search/no_such.csv`.\n"
    assert any("plots/search/no_such.csv" in p for p in path_problems(bad, REPO / "docs" / "pipeline.md"))


def _best_val_error() -> str:
    """The README's link to the committed best validation error, as the README writes it."""
    best = json.loads((REPO / "metrics" / "candidates.json").read_text())["best_val_error"]
    return f"{best:.4f}"


def test_a_wrong_number_is_caught():
    shown = _best_val_error()
    good = f'[{shown}](docs/candidates.md "metrics/candidates.json: best_val_error")'
    assert README_TEXT.count(good) == 1
    found = glance_problems(README_TEXT.replace(good, good.replace(shown, "0.0700")))
    assert any(f"0.0700 but metrics/candidates.json: best_val_error is {float(shown):g}" in p for p in found), found


def test_a_wrongly_rounded_number_is_caught():
    good = '[0.0040](docs/hypernetworks.md "metrics/hypernet.json: rms_range.global_mlp")'
    assert README_TEXT.count(good) == 1
    found = glance_problems(README_TEXT.replace(good, good.replace("0.0040", "0.0039")))
    assert any("0.0039 but" in p for p in found), found


def test_an_unsourced_number_is_caught():
    shown = _best_val_error()
    good = f'[{shown}](docs/candidates.md "metrics/candidates.json: best_val_error")'
    found = glance_problems(README_TEXT.replace(good, shown))
    assert any(f"bare number '{shown}'" in p for p in found), found
    found = glance_problems(README_TEXT.replace(good, f"[{shown}](docs/candidates.md)"))
    assert any("names no source" in p for p in found), found


def test_a_source_that_does_not_exist_is_caught():
    good = '"metrics/candidates.json: best_val_error"'
    found = glance_problems(README_TEXT.replace(good, '"metrics/candidates.json: best_val_err"'))
    assert any("not found" in p for p in found), found


def test_an_unknown_metric_key_is_caught():
    bad = PIPELINE_TEXT.replace("`best_val_error`, ", "`best_val_error`, `worst_val_error`, ", 1)
    assert any("has no key `worst_val_error`" in p for p in metrics_problems(bad))


def test_an_undescribed_metric_key_or_file_is_caught():
    bad = PIPELINE_TEXT.replace("`best_val_error`, ", "", 1)
    assert any("key `best_val_error` is not described" in p for p in metrics_problems(bad))
    lines = [line for line in PIPELINE_TEXT.splitlines() if not line.startswith("| `metrics/hpo.json`")]
    assert any("`metrics/hpo.json` is not described" in p for p in metrics_problems("\n".join(lines)))


@pytest.mark.parametrize(
    "shown, value, ok",
    [
        ("0.0038", 0.0037500000000000033, True),
        ("0.0037", 0.0037500000000000033, False),
        ("1.3e-7", 1.2615645061941905e-07, True),
        ("1.2e-7", 1.2615645061941905e-07, False),
        ("41", 41, True),
        ("-1.000000", -1.0, True),
        ("−1.000000", -1.0, True),
        ("1.0", 0.999994, True),
    ],
)
def test_rounding_rule(shown, value, ok):
    assert matches(shown, value) is ok


def metrics_counts(repo: Path = REPO) -> tuple[int, int]:
    """(files, keys) of the committed metrics/: what the README and docs/pipeline.md say in words."""
    from hyperlab.report import leaves

    files = sorted((repo / "metrics").glob("*.json"))
    return len(files), sum(len(leaves(json.loads(f.read_text()))) for f in files)


def count_problems(readme: str, pipeline: str, counts: tuple[int, int]) -> list[str]:
    files, keys = counts
    out = []
    said = re.search(r"(\d+) small JSON files", readme)
    if not said or int(said.group(1)) != files:
        out.append(f"README: 'N small JSON files' should say {files}")
    said = re.search(r"(\d+) keys over (\d+) files", pipeline)
    if not said or (int(said.group(1)), int(said.group(2))) != (keys, files):
        out.append(f"docs/pipeline.md: 'K keys over N files' should say {keys} keys over {files} files")
    return out


def test_the_metrics_counts_in_words_match_the_files():
    found = count_problems((REPO / "README.md").read_text(), PIPELINE_TEXT, metrics_counts())
    assert not found, "\n".join(found)


def test_a_wrong_metrics_count_is_caught():
    files, keys = metrics_counts()
    readme = f"the headline numbers: {files - 1} small JSON files"
    pipeline = f"`dvc exp show`: {keys} keys over {files} files"
    assert count_problems(readme, pipeline, (files, keys)) == [f"README: 'N small JSON files' should say {files}"]


_SOURCE = re.compile(r"^[\w./-]+\.json: \S+$")


def sourced_number_problems(text: str, repo: Path = REPO) -> list[str]:
    """On any page: a number linked with a title ``"file.json: dotted.key"`` must equal that value as rounded."""
    out = []
    for m in _LINK.finditer(_prose(text)):
        title, number = m.group("title") or "", _NUMBER.match(m.group("text"))
        if not number or not _SOURCE.match(title):
            continue
        shown = number.group(0)
        try:
            value = lookup(title, repo)
        except (OSError, KeyError, StopIteration, json.JSONDecodeError) as err:
            out.append(f"{shown}: source {title!r} not found ({err!r})")
            continue
        if value is None or not matches(shown, value):
            out.append(f"{shown} but {title} is {value!r}")
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_sourced_numbers_equal_the_committed_values(page):
    found = sourced_number_problems(page.read_text())
    assert not found, "\n".join(found)


def test_a_sourced_number_that_the_files_contradict_is_caught():
    source = "plots/hpo_scale/report.json: views.steps.paired.crossover.val_loss.dim"
    good = f'[18](x.md "{source}")'
    assert sourced_number_problems(good) == []
    wrong = good.replace("[18]", "[27]")
    assert sourced_number_problems(wrong) == [f"27 but {source} is 18"]
    big = '[12,705](x.md "metrics/hpo_scale.json: crossover_dim_test_error")'
    assert sourced_number_problems(big) == []
    assert sourced_number_problems(big.replace("12,705", "12,704")) == [
        "12,704 but metrics/hpo_scale.json: crossover_dim_test_error is 12705"
    ]
