"""The space of networks and its encoding (hyperlab.selection.space): size, order, canonical parameters."""

from __future__ import annotations

import jax
import pytest

from hyperlab.selection.space import architectures
from hyperlab.selection.space.encoding import arch_of_params, canonical_params, network_params, space_of
from hyperlab.selection.table.synthetic import synthetic_table
from hyperlab.training import mlp, network


@pytest.fixture(scope="module")
def table():
    return synthetic_table(layers=(1, 2), widths=(16, 32, 64), n_seeds=2, seed=3, fail_rate=0.0)


def test_space_size_order_and_closed_forms():
    archs = architectures.enumerate_space((1, 2, 3), (16, 32, 64, 128, 256, 512))
    assert len(archs) == 6 + 36 + 216
    assert len(set(archs)) == len(archs) and archs[0] == (16,) and archs[-1] == (512, 512, 512)
    assert network.arch_name((64, 32)) == "64-32" and network.parse_arch("64-32") == (64, 32)
    assert network.n_params((64, 32)) == (784 * 64 + 64) + (64 * 32 + 32) + (32 * 10 + 10)
    assert network.forward_flops((64, 32)) == 2 * (784 * 64 + 64 * 32 + 32 * 10)
    # training: forward + weight gradients + input gradients of all layers but the first
    assert network.train_flops((64, 32)) == 3 * 2 * (784 * 64 + 64 * 32 + 32 * 10) - 2 * 784 * 64
    # the Flax model agrees with the parameter count
    weights = mlp.init_weights((64, 32), seed=0)
    assert sum(p.size for p in jax.tree.leaves(weights)) == network.n_params((64, 32))


def test_encodings_of_one_network_share_one_canonical_form(table):
    space = space_of(table)
    a = {"n_layers": 1, "log2_units_l0": 5, "log2_units_l1": 6}
    b = {"n_layers": 1, "log2_units_l0": 5, "log2_units_l1": 4}
    assert canonical_params(a, space) == canonical_params(b, space) == b
    assert arch_of_params(a, space) == "32"
    nets = network_params(space, ["16-64", "64"])
    assert nets == [
        {"n_layers": 2, "log2_units_l0": 4, "log2_units_l1": 6},
        {"n_layers": 1, "log2_units_l0": 6, "log2_units_l1": 4},
    ]
    assert [arch_of_params(p, space) for p in nets] == ["16-64", "64"]
