"""Packed JAX trainer vs scikit-learn's MLPClassifier on the same networks, epochs, batch and rate.

Both train the same architectures of the default space (every ``--every``-th
network in enumeration order, so 1-, 2- and 3-layer networks of all sizes), each
under the same seeds, with Adam at ``candidates.learning_rate``, minibatches of
``candidates.batch_size``, ``candidates.epochs`` epochs, no L2 penalty and no
early stopping, on the same data. Time is wall time of the whole job: ours
includes compilation and the evaluation of train/val/test errors, scikit-learn's
its ``fit`` calls only. Ours is timed twice (before and after scikit-learn,
median), in one run. Accuracy: validation error per network (mean over seeds),
the paired difference against the seed-to-seed noise.

    python bench/candidates_vs_sklearn.py [--every 6]
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from hyperlab import config, data
from hyperlab.selection.space import architectures
from hyperlab.training import network
from hyperlab.training.trainer import TrainSettings, train_space

REPO = Path(__file__).resolve().parents[1]


def emit(**row) -> None:
    print(json.dumps({"bench": "candidates_vs_sklearn", **row}), flush=True)


def ours(archs, seeds, splits, params) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    res = train_space(
        archs,
        seeds,
        *splits["train"],
        [splits["train"], splits["val"]],
        TrainSettings(
            params.epochs, params.batch_size, params.learning_rate, params.max_pack_params, params.eval_chunk
        ),
    )
    return time.perf_counter() - t0, res.errors[:, :, 1]


def sklearn(archs, seeds, splits, params) -> tuple[float, np.ndarray]:
    x, y = splits["train"]
    xv, yv = splits["val"]
    errors = np.empty((len(archs), len(seeds)))
    t_total = 0.0
    for i, arch in enumerate(archs):
        for j, seed in enumerate(seeds):
            clf = MLPClassifier(
                hidden_layer_sizes=arch,
                activation="relu",
                solver="adam",
                alpha=0.0,
                batch_size=params.batch_size,
                learning_rate_init=params.learning_rate,
                max_iter=params.epochs,
                shuffle=True,
                random_state=seed,
                tol=0.0,
                n_iter_no_change=params.epochs + 1,
                early_stopping=False,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                t0 = time.perf_counter()
                clf.fit(x, y)
                t_total += time.perf_counter() - t0
            errors[i, j] = 1.0 - clf.score(xv, yv)
    return t_total, errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--every", type=int, default=6, help="bench every n-th network of the space")
    args = parser.parse_args()
    params = config.load_section("candidates", REPO / "params.yaml")
    d = data.load_npz(REPO / "data" / "mnist.npz")
    splits = {s: (data.to_float(d[f"x_{s}"]), d[f"y_{s}"]) for s in ("train", "val")}
    full = architectures.enumerate_space(params.layers, params.widths)
    archs = full[:: args.every]
    seeds = list(range(params.n_seeds))
    share = sum(network.train_flops(a) for a in archs) / sum(network.train_flops(a) for a in full)
    emit(
        metric="subset",
        value=len(archs),
        of=len(full),
        train_flops_share=round(share, 3),
        seeds=len(seeds),
        epochs=params.epochs,
        batch_size=params.batch_size,
        lr=params.learning_rate,
        loadavg=os.getloadavg(),
    )

    t_ours_1, err_ours = ours(archs, seeds, splits, params)
    t_sk, err_sk = sklearn(archs, seeds, splits, params)
    t_ours_2, err_ours_2 = ours(archs, seeds, splits, params)
    assert np.array_equal(err_ours, err_ours_2, equal_nan=True)  # deterministic
    t_ours = float(np.median([t_ours_1, t_ours_2]))
    emit(metric="jax_packed_s", value=round(t_ours, 2), runs=[round(t_ours_1, 2), round(t_ours_2, 2)])
    emit(
        metric="sklearn_s",
        value=round(t_sk, 2),
        full_table_estimate_s=round(t_sk / share, 0),
        note="estimate scales the subset time by the full space's share of training FLOPs",
    )
    emit(metric="speedup_sklearn_over_jax", value=round(t_sk / t_ours, 2), loadavg=os.getloadavg())

    mo, ms = np.nanmean(err_ours, axis=1), err_sk.mean(axis=1)
    diff = ms - mo
    # seed noise of one network's seed-mean error: std of a seed's error / sqrt(seeds), pooled over networks
    seed_sd = np.sqrt(np.nanmean(np.concatenate([np.nanvar(err_ours, axis=1, ddof=1), np.var(err_sk, axis=1, ddof=1)])))
    emit(metric="val_error_mean_jax", value=round(float(mo.mean()), 4))
    emit(metric="val_error_mean_sklearn", value=round(float(ms.mean()), 4))
    emit(
        metric="val_error_diff_sklearn_minus_jax",
        value=round(float(diff.mean()), 4),
        stderr=round(float(diff.std(ddof=1) / np.sqrt(len(diff))), 4),
        per_network_sd=round(float(diff.std(ddof=1)), 4),
        seed_noise_sd_of_diff=round(float(seed_sd * np.sqrt(2 / len(seeds))), 4),
        n_failed_jax=int(np.isnan(err_ours).sum()),
    )


if __name__ == "__main__":
    main()
