"""Is the candidate table deterministic? The ``candidates`` stage twice, same params, every non-timing column compared.

Runs ``stages/candidates.py`` in two scratch folders on the same
``data/mnist.npz`` and the same params, then compares ``data/candidates.csv``
of the two runs byte for byte, column by column, except the timing columns
(``train_seconds``, ``latency_ms``: :data:`hyperlab.selection.table.validate.TIME_COLUMNS`).
``--burn`` runs a CPU-burning process beside the second run: a schedule that
depends on load (thread counts, reduction order) would show up as a difference.
Prints one JSON line: ``equal``, the differing columns, the largest absolute
difference of a numeric one.

    python bench/candidates_determinism.py            # the repository's params.yaml and data/mnist.npz
    python bench/candidates_determinism.py --tiny     # seconds: a tiny space on 300 bundled digits
    python bench/candidates_determinism.py --tiny --burn
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from hyperlab import config
from hyperlab.selection.table.validate import TIME_COLUMNS

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "seed": 0,
    "data": {"source": "bundled", "n_train": 300, "n_val": 100, "n_test": 100},
    "candidates": {
        "layers": [1, 2],
        "widths": [8, 32],
        "n_seeds": 2,
        "epochs": 2,
        "batch_size": 50,
        "learning_rate": 0.003,
        "latency_batch": 64,
        "latency_repeats": 3,
        "latency_warmup": 1,
    },
}
BURNER = "while True:\n    pass\n"


def run_stage(stage: str, workdir: Path) -> float:
    """Run ``stages/<stage>.py`` in ``workdir``; its wall time in seconds (a failure stops the bench)."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(REPO / "stages" / f"{stage}.py")], cwd=workdir, env=env, capture_output=True, text=True
    )
    if proc.returncode:
        sys.exit(f"error: stage {stage} failed in {workdir}: {proc.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - t0


def prepare(root: Path, params_text: str, mnist: Path | None) -> Path:
    """A folder holding ``params.yaml`` and ``data/mnist.npz`` (copied, or made by the data stage)."""
    root.mkdir(parents=True)
    (root / "params.yaml").write_text(params_text)
    (root / "data").mkdir()
    if mnist is not None:
        shutil.copy(mnist, root / "data" / "mnist.npz")
    else:
        run_stage("data", root)
    return root


def compare(a: pd.DataFrame, b: pd.DataFrame) -> dict:
    """Equal (as text, cell for cell) outside the timing columns? Which columns differ, and by how much at most."""
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return {
            "equal": False,
            "differing_columns": ["<shape>"],
            "max_abs_diff": None,
            "shapes": [list(a.shape), list(b.shape)],
        }
    differing, worst = [], 0.0
    for column in a.columns:
        if column in TIME_COLUMNS or a[column].equals(b[column]):
            continue
        differing.append(column)
        x, y = (pd.to_numeric(f[column], errors="coerce").to_numpy(float) for f in (a, b))
        both = np.isfinite(x) & np.isfinite(y)
        if both.any():
            worst = max(worst, float(np.max(np.abs(x[both] - y[both]))))
    return {"equal": not differing, "differing_columns": differing, "max_abs_diff": worst if differing else 0.0}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="a tiny space on 300 bundled digits (seconds)")
    parser.add_argument("--burn", action="store_true", help="burn a CPU core beside the second run")
    args = parser.parse_args(argv)
    if args.tiny:
        params_text, mnist = yaml.safe_dump(TINY, sort_keys=False), None
    else:
        params_text, mnist = (REPO / "params.yaml").read_text(), REPO / "data" / "mnist.npz"
        if not mnist.is_file():
            mnist = None  # made by the data stage from the repository's params (bundled: no network)
    config.validate_raw(config.parse_yaml(params_text))

    with tempfile.TemporaryDirectory(prefix="candidates-determinism-") as tmp:
        first = prepare(Path(tmp) / "first", params_text, mnist)
        second = prepare(Path(tmp) / "second", params_text, first / "data" / "mnist.npz")
        walls = [run_stage("candidates", first)]
        burner = subprocess.Popen([sys.executable, "-c", BURNER]) if args.burn else None
        try:
            walls.append(run_stage("candidates", second))
        finally:
            if burner is not None:
                burner.kill()
                burner.wait()
        # text, not numbers: "byte for byte" means the digits the CSV holds
        tables = [pd.read_csv(f / "data" / "candidates.csv", dtype=str, keep_default_na=False) for f in (first, second)]
        result = compare(*tables)
    print(
        json.dumps(
            {
                "bench": "candidates_determinism",
                **result,
                "rows": len(tables[0]),
                "compared_columns": [c for c in tables[0].columns if c not in TIME_COLUMNS],
                "tiny": args.tiny,
                "burn": args.burn,
                "wall_s": [round(w, 1) for w in walls],
                "loadavg": [round(x, 2) for x in os.getloadavg()],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
