"""Reading the meta-trained LSTM weights (``data/l2l/lstm.npz``) back, checked.

Its own module, so that the ``l2l`` evaluation stage can depend on it
without the ``l2l_train`` stage rerunning when only the checks change.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import numpy as np
from flax.traverse_util import flatten_dict

from hyperlab.data import read_npz
from hyperlab.errors import InputError
from hyperlab.l2l.lstm_optimizer import LSTMConfig, init_phi, weights_from_arrays
from hyperlab.l2l.names import PREPROCESSINGS, RECIPES


class LSTMWeights(NamedTuple):
    phi: dict  # the LSTM weights, stacked over a leading meta-seed axis
    cfg: LSTMConfig
    meta_seeds: list[int]
    recipe: str  # :mod:`hyperlab.l2l.recipes`
    meta_updates: int  # the budget of the kept weights


def load_weights(path, meta_seeds: list[int]) -> LSTMWeights:
    """The LSTM weights file written by stage ``l2l_train``, checked; any problem is one line naming it.

    The file must hold every ``config/<field>`` as a finite scalar in range (the
    preprocessing: one of its names), ``meta_seeds`` equal to ``meta_seeds`` (the
    ``l2l`` section's: weights of other seeds would be reported under the wrong
    names), ``recipe`` one of :data:`hyperlab.l2l.names.RECIPES`,
    ``meta_updates`` a positive integer, and exactly the
    ``params/...`` arrays the network of that config has, each with a leading
    axis of length S before its shape, float32 and finite -- so a truncated,
    edited or foreign file stops here instead of inside a jitted evaluation.
    """
    arrays = read_npz(path, "run `dvc repro l2l_train` (or stages/l2l_train.py) first")
    cfg = _config(path, arrays)
    seeds = _meta_seeds(path, arrays, meta_seeds)
    recipe, updates = arrays.get("recipe"), arrays.get("meta_updates")
    if recipe is None or recipe.shape != () or recipe.dtype.kind != "U" or recipe.item() not in RECIPES:
        raise InputError(f"{path}: recipe missing or not one of {', '.join(RECIPES)}; rerun l2l_train")
    if updates is None or updates.shape != () or updates.dtype.kind not in "iu" or updates.item() < 1:
        raise InputError(f"{path}: meta_updates missing or not a positive integer; rerun l2l_train")
    _check_arrays(path, arrays, cfg, len(seeds))
    phi, cfg = weights_from_arrays(arrays)
    return LSTMWeights(phi, cfg, seeds, str(recipe.item()), int(updates.item()))


def _config(path, arrays) -> LSTMConfig:
    values = []
    for field, default in zip(LSTMConfig._fields, LSTMConfig._field_defaults.values()):
        key = f"config/{field}"
        value = arrays.get(key)
        if isinstance(default, str):
            if value is None or value.shape != () or value.dtype.kind != "U" or value.item() not in PREPROCESSINGS:
                raise InputError(f"{path}: {key} missing or not one of {', '.join(PREPROCESSINGS)}; rerun l2l_train")
            values.append(value.item())
            continue
        if value is None or value.shape != () or value.dtype.kind not in "iuf":
            raise InputError(f"{path}: {key} missing or not a number scalar; rerun l2l_train")
        value = value.item()
        ok = (
            (float(value).is_integer() and value >= 1 and value <= 4096)
            if isinstance(default, int)
            else (math.isfinite(value) and value > 0)
        )
        if not ok:
            raise InputError(f"{path}: {key} = {value!r} is out of range; rerun l2l_train")
        values.append(type(default)(value))
    return LSTMConfig(*values)


def _meta_seeds(path, arrays, wanted: list[int]) -> list[int]:
    seeds = arrays.get("meta_seeds")
    if (
        seeds is None
        or seeds.ndim != 1
        or seeds.dtype.kind not in "iu"
        or not 1 <= seeds.size <= 4096
        or len(set(seeds.tolist())) != seeds.size
    ):
        raise InputError(f"{path}: meta_seeds missing or not distinct integers; rerun l2l_train")
    if seeds.tolist() != list(wanted):
        raise InputError(
            f"{path}: meta_seeds {seeds.tolist()} differ from {list(wanted)} (seed .. seed + l2l.meta_seeds - 1); "
            "rerun l2l_train"
        )
    return [int(m) for m in seeds]


def _check_arrays(path, arrays, cfg: LSTMConfig, n_seeds: int) -> None:
    """Exactly the weight arrays of an LSTM of ``cfg``, each float32, finite, with a leading meta-seed axis."""
    expected = {
        f"params/{k}": v
        for k, v in flatten_dict(jax.eval_shape(lambda: init_phi(jax.random.key(0), cfg)), sep="/").items()
    }
    got = {k for k in arrays if k.startswith("params/")}
    scalars = {"meta_seeds", "recipe", "meta_updates"}
    extra = sorted(k for k in arrays if k not in expected and not k.startswith("config/") and k not in scalars)
    if got - set(expected) or set(expected) - got or extra:
        wrong = sorted((got ^ set(expected)) | set(extra))
        raise InputError(
            f"{path}: arrays do not match an LSTM of hidden {cfg.hidden}, layers {cfg.layers} "
            f"({wrong[0]} {'unexpected' if wrong[0] in arrays else 'missing'}); rerun l2l_train"
        )
    for key, shape in expected.items():
        a = arrays[key]
        if a.shape != (n_seeds, *shape.shape) or a.dtype != np.float32:
            raise InputError(
                f"{path}: {key} is {a.dtype} {a.shape}; expected float32 {(n_seeds, *shape.shape)} "
                f"({n_seeds} meta-seeds)"
            )
        if not np.isfinite(a).all():
            raise InputError(f"{path}: {key} has non-finite values; rerun l2l_train")
