"""Shared test helpers: run a stage script end to end in a scratch folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def run_stage(stage: str, workdir: Path, params: dict, check: bool = True,
              timeout: float = 600, args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Write ``params`` as ``workdir/params.yaml`` and run ``stages/<stage>.py`` there.

    Stage scripts use paths relative to the working directory (params.yaml,
    data/, metrics/, plots/), so a scratch folder isolates a test run from the
    repository's own results. ``args``: the script's arguments (``search`` takes its strategy).
    """
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PYTHONHASHSEED": "0", "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")}
    proc = subprocess.run([sys.executable, str(REPO / "stages" / f"{stage}.py"), *args], cwd=workdir,
                          capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"stage {stage} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="session")
def mnist_npz(tmp_path_factory) -> Path:
    """A small ``data/mnist.npz`` made by the real ``data`` stage from the bundled digits."""
    workdir = tmp_path_factory.mktemp("mnist")
    run_stage("data", workdir, {"seed": 0, "data": {"source": "bundled", "n_train": 600,
                                                    "n_val": 200, "n_test": 200}})
    return workdir / "data" / "mnist.npz"
