"""Reading the meta-trained LSTM weights (``data/l2l/lstm.npz``) back, checked.

Its own module, so that the ``l2l`` evaluation stage can depend on it
without the ``l2l_train`` stage rerunning when only the checks change.
"""

from __future__ import annotations

import math

import jax
import numpy as np
from flax.traverse_util import flatten_dict

from hyperlab.data import read_npz
from hyperlab.errors import InputError
from hyperlab.l2l.lstm_optimizer import LSTMConfig, init_lstm_params, weights_from_arrays


def load_weights(path) -> tuple[dict, LSTMConfig, list[int]]:
    """The LSTM weights file written by stage ``l2l_train``, checked; any problem is one line naming it.

    Returns ``(weights stacked over a leading meta-seed axis, config, meta-seeds)``.
    The file must hold every ``config/<field>`` as a finite scalar in range,
    ``meta_seeds`` as distinct integers (S of them), and exactly the
    ``params/...`` arrays the network of that config has, each with a leading
    axis of length S before its shape, float32 and finite -- so a truncated,
    edited or foreign file stops here instead of inside a jitted evaluation.
    """
    arrays = read_npz(path, "run `dvc repro l2l_train` (or stages/l2l_train.py) first")
    values = []
    for field, default in zip(LSTMConfig._fields, LSTMConfig._field_defaults.values()):
        key = f"config/{field}"
        value = arrays.get(key)
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
    cfg = LSTMConfig(*values)
    seeds = arrays.get("meta_seeds")
    if (
        seeds is None
        or seeds.ndim != 1
        or seeds.dtype.kind not in "iu"
        or not 1 <= seeds.size <= 4096
        or len(set(seeds.tolist())) != seeds.size
    ):
        raise InputError(f"{path}: meta_seeds missing or not distinct integers; rerun l2l_train")
    n_seeds = seeds.size
    expected = {
        f"params/{k}": v
        for k, v in flatten_dict(jax.eval_shape(lambda: init_lstm_params(jax.random.key(0), cfg)), sep="/").items()
    }
    got = {k for k in arrays if k.startswith("params/")}
    extra = sorted(k for k in arrays if k not in expected and not k.startswith("config/") and k != "meta_seeds")
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
    params, cfg = weights_from_arrays(arrays)
    return params, cfg, [int(m) for m in seeds]
