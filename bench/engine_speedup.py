"""Speed-up of ``hpo_scale`` on 2 local engine workers against 1, on small params (docs/distributed.md).

    python bench/engine_speedup.py [--runs 1] [--step-budget 400]

Runs the ``hpo_scale`` stage in a scratch folder (the data split of the repository's
``data/mnist.npz``, which ``dvc repro data`` makes) with ``HYPERLAB_LOCAL_WORKERS=1`` (no
engine: every unit in the stage's process) and ``=2`` (the stage and one worker on a temporary
journal), alternating, after one untimed run that fills JAX's compilation cache. Prints one JSON
line per pair: both wall clocks, their ratio, the CPU seconds of each run (its processes
together), and the load average before each run (the machine
is shared: compare ratios measured under similar load). The small params: 3 families, a hidden
layer of 16, 300 training digits, T = 20, 2 seeds (54 units).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SMALL = {
    "hpo": {"hidden": [16], "n_train": 300, "T": 20},
    "hpo_scale": {"families": ["layer", "knots", "unit"], "seeds": 2, "knots": 4, "check_points": 1},
}


def _params(step_budget: int) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in SMALL.items():
        params[section] = {**params[section], **values}
    params["hpo_scale"]["step_budget"] = step_budget
    return params


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(workdir: Path, workers: int) -> tuple[float, float]:
    """Wall clock and CPU seconds (the stage and the workers it started) of one run."""
    env = {k: v for k, v in os.environ.items() if k != "HYPERLAB_ENGINE"}
    env.update(HYPERLAB_LOCAL_WORKERS=str(workers), PYTHONPATH=str(REPO / "src"))
    shutil.rmtree(workdir / "plots", ignore_errors=True)
    start, cpu = time.perf_counter(), _cpu_s()
    proc = subprocess.run(
        [sys.executable, str(REPO / "stages" / "hpo_scale.py")], cwd=workdir, env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        sys.exit(f"hpo_scale with {workers} worker(s) failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start, _cpu_s() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="timed pairs (1 worker, then 2)")
    parser.add_argument("--step-budget", type=int, default=400)
    args = parser.parse_args()
    mnist = REPO / "data" / "mnist.npz"
    if not mnist.is_file():
        sys.exit("data/mnist.npz is missing: run `dvc repro data` first")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "data").mkdir()
        shutil.copy(mnist, work / "data" / "mnist.npz")
        (work / "params.yaml").write_text(yaml.safe_dump(_params(args.step_budget), sort_keys=False))
        _run(work, 1)  # fills the compilation cache
        for _ in range(args.runs):
            load = [os.getloadavg()[0]]
            one = _run(work, 1)
            load.append(os.getloadavg()[0])
            two = _run(work, 2)
            print(
                json.dumps(
                    {
                        "bench": "engine_speedup",
                        "step_budget": args.step_budget,
                        "one_worker_s": round(one[0], 1),
                        "two_workers_s": round(two[0], 1),
                        "speedup": round(one[0] / two[0], 2),
                        "cpu_s": [round(one[1], 1), round(two[1], 1)],  # busy cores = cpu_s / wall
                        "load_before": [round(x, 2) for x in load],
                        "cpus": os.cpu_count(),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
