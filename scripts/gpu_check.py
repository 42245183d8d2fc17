"""Run a tiny pipeline on two JAX platforms (a GPU and the CPU) and compare its non-timing outputs.

Usage (on a machine with an NVIDIA GPU and ``make setup-gpu`` done)::

    .venv/bin/python scripts/gpu_check.py                  # cuda against cpu
    .venv/bin/python scripts/gpu_check.py --platforms cpu cpu   # the script's own check: must be exact

Each platform gets a scratch folder with tiny params (below); the stages run there as real
processes (``JAX_PLATFORMS=<platform>``), so the precision and preallocation policy of
:mod:`hyperlab.backend` applies as in ``dvc repro``. Every CSV and JSON output is then compared
value by value: timing columns and keys are skipped (``timing_dependent`` in a report, and the
names below); other numbers must agree within ``--rtol`` / ``--atol``, and strings exactly.

Tolerances: float64 toy stages (bilevel, drmad) agree to rounding; float32 training (candidates,
hpo) runs the same arithmetic in a different order on a GPU (reductions, fused kernels), and a few
epochs of SGD amplify last-bit differences, so the default is rtol 2e-2 for those numbers. A
verdict that flips inside that tolerance is a finding worth reporting. Exit code 1 on any mismatch,
with one line per mismatch.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
#: The stages run, in order (each reads what the ones before it wrote).
STAGES = ("data", "bilevel", "drmad", "candidates", "hpo")
#: Tiny params: seconds per stage on a CPU; every other key keeps its params.yaml value.
TINY = {
    "data": {"source": "bundled", "n_train": 600, "n_val": 200, "n_test": 200},
    "bilevel": {"outer_steps": 30},
    "candidates": {"layers": [1, 2], "widths": [8, 256], "n_seeds": 2, "epochs": 2, "batch_size": 50},
    "hpo": {
        **{"hidden": [4], "n_train": 100, "T": 10, "orders": [1, 2], "seeds": 1, "budget_seconds": 0.01},
        **{"step_budget": 200, "check_points": 2, "online_every": 2, "pieces": 2, "n_startup_trials": 3},
        **{"lr0": 0.05, "l2_0": -4.0, "hypernet_every": 5},
    },
}
#: Column and key names that hold timings or memory, never compared.
TIMING = ("seconds", "_s", "_ms", "wall", "latency", "memory", "time")


def params(base: dict) -> dict:
    out = {**base}
    for section, values in TINY.items():
        out[section] = {**base.get(section, {}), **values}
    return out


def run_pipeline(platform: str, workdir: Path) -> None:
    (workdir / "params.yaml").write_text(yaml.safe_dump(params(yaml.safe_load((REPO / "params.yaml").read_text()))))
    env = {**os.environ, "JAX_PLATFORMS": platform, "PYTHONPATH": str(REPO / "src")}
    for stage in STAGES:
        proc = subprocess.run(
            [sys.executable, str(REPO / "stages" / f"{stage}.py")], cwd=workdir, env=env, capture_output=True, text=True
        )
        if proc.returncode != 0:
            sys.exit(f"{platform}: stage {stage} failed:\n{proc.stderr[-3000:]}")
        ran_on = [line for line in proc.stderr.splitlines() if " ran on " in line]
        print(f"{platform}: {stage} ok{(' — ' + ran_on[-1].split(' ran on ')[-1]) if ran_on else ''}")


def is_timing(key: str) -> bool:
    return any(part in key for part in TIMING)


def compare(a, b, where: str, tol: tuple[float, float], skip: set[str]) -> list[str]:
    """Every difference between two parsed JSON/CSV values beyond the tolerances (timings skipped)."""
    rtol, atol = tol
    if isinstance(a, dict) and isinstance(b, dict):
        skip = skip | set(a.get("timing_dependent", []))
        keys = sorted(set(a) | set(b))
        return [d for k in keys if not (is_timing(k) or k in skip) for d in _compare_key(a, b, k, where, tol, skip)]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items against {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in compare(x, y, f"{where}[{i}]", tol, skip)]
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if math.isnan(a) and math.isnan(b):
            return []
        if math.isclose(a, b, rel_tol=rtol, abs_tol=atol):
            return []
        return [f"{where}: {a!r} against {b!r}"]
    return [] if a == b else [f"{where}: {a!r} against {b!r}"]


def _compare_key(a: dict, b: dict, key: str, where: str, tol, skip) -> list[str]:
    if key not in a or key not in b:
        return [f"{where}.{key}: present on one platform only"]
    return compare(a[key], b[key], f"{where}.{key}", tol, skip)


def load(path: Path):
    if path.suffix == ".json":
        return json.loads(path.read_text())
    import pandas as pd

    return pd.read_csv(path).to_dict(orient="list")


def outputs(workdir: Path) -> dict[str, Path]:
    found = [p for d in ("plots", "metrics", "data") for p in (workdir / d).rglob("*") if p.suffix in (".csv", ".json")]
    return {str(p.relative_to(workdir)): p for p in found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platforms", nargs=2, default=["cuda", "cpu"], metavar=("A", "B"))
    parser.add_argument("--rtol", type=float, default=2e-2)
    parser.add_argument("--atol", type=float, default=1e-6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dirs = [Path(tmp) / f"{i}_{p}" for i, p in enumerate(args.platforms)]
        for platform, workdir in zip(args.platforms, dirs):
            workdir.mkdir()
            run_pipeline(platform, workdir)
        a, b = outputs(dirs[0]), outputs(dirs[1])
        problems = [f"{name}: written on one platform only" for name in sorted(set(a) ^ set(b))]
        for name in sorted(set(a) & set(b)):
            problems += compare(load(a[name]), load(b[name]), name, (args.rtol, args.atol), set())
    for line in problems:
        print(line)
    print(f"{len(a)} output files compared: {len(problems)} difference(s) beyond rtol {args.rtol}, atol {args.atol}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
