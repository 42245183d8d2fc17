"""The checks of ``docs/hypernetworks.md``'s results table and comparative sentences against ``plots/hypernet/``.

Registered by ``tests/test_docs_claims.py`` as :mod:`docs_claims_hpo` is; a check takes the committed files
(``test_docs_claims.Committed``) and returns what in them contradicts its sentence, [] if nothing. The results
table is written by hand, so one check reads every one of its cells back from ``report.json``.
"""

from __future__ import annotations

import re

from docs_claims_hpo import paragraphs
from docs_claims_hpo_scale import Check, _unless

PAGE = "docs/hypernetworks.md"
RUNS = ("global_linear", "global_mlp", "local_linear", "local_mlp")
#: The table's columns after the run's name: the keys of ``report.json`` they show, in order.
COLUMNS = ("rms_range", "rms_near_h", "final_h", "final_abs_h_max", "l_val", "l_val_true", "steps_to_tol")


def _report(data) -> dict:
    return data.json("plots/hypernet/report.json")


def shows(value: float, text: str) -> bool:
    """``value`` written as ``text`` is (``2.2e-3``, ``−1.7e-4``, ``23``): as many significant digits."""
    text = text.replace("−", "-")
    if re.fullmatch(r"-?\d+", text):
        return round(value) == int(text)
    digits = len(re.sub(r"[^0-9]", "", text.split("e")[0]).lstrip("0")) or 1
    return f"{value:.{digits - 1}e}" == f"{float(text):.{digits - 1}e}"


def _cells(row: str) -> list[str]:
    """The numbers of a table row: ``2.2e-3 (6.8e-3)`` is two, ``23 (+1000 φ steps)`` one."""
    cells = [c.strip() for c in row.strip().strip("|").split("|")][1:]
    out = []
    for c in cells:
        out += re.findall(r"[−-]?\d[\d.]*(?:e[−-]?\d+)?(?!\d* φ)", c.split("(+")[0])
    return out


def table_is_the_report(data) -> list[str]:
    """Every cell of the page's results table rounds from ``report.json``'s value for that run and column."""
    text = (data.root / PAGE).read_text()
    report, out = _report(data), []
    for run in RUNS:
        label = run.replace("_", " ").replace("mlp", "MLP")
        row = next((ln for ln in text.splitlines() if ln.startswith(f"| {label} |")), None)
        if row is None:
            out.append(f"no table row for {label}")
            continue
        shown = _cells(row)
        wrong = [f"{k} {report[run][k]:.3g} shown {s}" for k, s in zip(COLUMNS, shown) if not shows(report[run][k], s)]
        out += _unless(len(shown) == len(COLUMNS) and not wrong, f"{label}: {wrong or shown}")
    return out


def linear_exact(data) -> list[str]:
    r = _report(data)
    got = {v: (r[f"{v}_linear"]["A"], r[f"{v}_linear"]["b"]) for v in ("global", "local")}
    ok = all(f"{a:.6f}" == "-1.000000" and abs(b) < 1e-9 for a, b in got.values())
    return _unless(ok, f"(A, b) {got}")


def mlp_only_as_good_as_its_fit(data) -> list[str]:
    """Global MLP: 4.0e-3 RMS on the range, up to 0.5 off at h = ±3; a bias of 2e-3 (up to 7e-3); true L_val
    ≈ 1e-5 against the 4e-15 the hypernetwork sees."""
    g = _report(data)["global_mlp"]
    curve = data.csv("plots/hypernet/curves/global_mlp.csv")
    outside = curve[curve.h.abs() >= 3]
    worst = float((outside.w_phi - outside.w_star).abs().max())
    shown = [(g["rms_range"], "4.0e-3"), (g["final_h"], "2e-3"), (g["final_abs_h_max"], "7e-3")]
    shown += [(g["l_val_true"], "1e-5"), (g["l_val"], "4e-15"), (worst, "0.5")]
    return _unless(all(shows(v, s) for v, s in shown), f"global MLP {[(round(v, 18), s) for v, s in shown]}")


def local_fits_only_where_h_is(data) -> list[str]:
    """Local MLP: ≈ 10× worse over the range than near ĥ, a smaller final |ĥ| than the global MLP's, and no
    more accurate near ĥ than it."""
    r = _report(data)
    loc, glob = r["local_mlp"], r["global_mlp"]
    ratio = loc["rms_range"] / loc["rms_near_h"]
    out = _unless(shows(ratio, "10"), f"range / near-ĥ RMS {ratio:.1f}")
    out += _unless(loc["final_abs_h_max"] < glob["final_abs_h_max"], "the local MLP's outer solution is not better")
    return out + _unless(loc["rms_near_h"] > glob["rms_near_h"], "the local MLP is more accurate near ĥ")


def joint_dynamics_not_monotone(data) -> list[str]:
    """Seed 0's local linear ĥ: 1.5 -> 0.35 at step 11 -> 1.30 at step 55; steps to tolerance 132, 187 and 23."""
    h = data.csv("plots/hypernet/paths/local_linear.csv").set_index("step").h_hat
    low, high = int(h.loc[:30].idxmin()), int(h.loc[11:].idxmax())
    ok = (low, high) == (11, 55) and shows(h[11], "0.35") and shows(h[55], "1.30") and shows(h[0], "1.5")
    out = _unless(ok, f"ĥ's low at step {low} ({h[low]:.2f}), its high after at step {high} ({h[high]:.2f})")
    steps = [_report(data)[r]["steps_to_tol"] for r in ("local_linear", "local_mlp", "global_linear")]
    return out + _unless([round(s) for s in steps] == [132, 187, 23], f"steps to tolerance {steps}")


CLAIMS: list[tuple[str, str, Check]] = [
    (PAGE, "| run | RMS over [−2, 2] | RMS near ĥ |", table_is_the_report),
    (PAGE, "**The linear hypernetwork recovers the best response exactly**", linear_exact),
    (PAGE, "**The MLP is only as good as its fit.**", mlp_only_as_good_as_its_fit),
    (PAGE, "The local MLP is 10× worse over the whole range", local_fits_only_where_h_is),
    (PAGE, "Near ĥ it is not more accurate than the global MLP", local_fits_only_where_h_is),
    (PAGE, "**The joint dynamics are not monotone.**", joint_dynamics_not_monotone),
]

NOT_CLAIMS = {
    "the linear hypernetwork is exact by construction": "a property of the toy (w*(h) = −h is linear), not a result",
    "the local linear hypernetwork barely moves": "the HPO page's result (docs/hpo.md: 'stay within 0.01 of f(h0)')",
}

SCOPES = {PAGE: lambda text: paragraphs(text, "Results", "Verdicts", "Limits")}
