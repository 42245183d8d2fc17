"""What a network is: a ReLU MLP given by its hidden-layer widths, and the facts that need no training.

A network is a tuple of hidden widths, e.g. ``(64, 32)``, between the 784 pixels
and the 10 classes. Its name ``"64-32"``, its parameter count, its forward and
training FLOPs, and the seed stream of its initial weights are defined here,
once: the trainer (:mod:`.trainer`, :mod:`.mlp`) and the architecture search
(:mod:`hyperlab.selection.space.architectures`, the candidate table) both read them.
"""

from __future__ import annotations

import zlib

# The sizes of every network on MNIST, named once: the trainer, the search, hpo and l2l read them here (the module
# imports nothing of hyperlab, so any package may: tests/test_architecture.py lists it as a leaf).
N_INPUTS = 28 * 28
N_CLASSES = 10

Arch = tuple[int, ...]


def arch_name(arch: Arch) -> str:
    """``(64, 32) -> "64-32"`` (the ``arch`` column of the table)."""
    return "-".join(str(w) for w in arch)


def parse_arch(name: str) -> Arch:
    """Inverse of :func:`arch_name`."""
    return tuple(int(w) for w in name.split("-"))


def layer_shapes(arch: Arch, n_in: int = N_INPUTS, n_out: int = N_CLASSES) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of every dense layer, the output layer included."""
    sizes = (n_in, *arch, n_out)
    return list(zip(sizes[:-1], sizes[1:]))


def n_params(arch: Arch, n_in: int = N_INPUTS, n_out: int = N_CLASSES) -> int:
    """Weights and biases of all dense layers."""
    return sum(i * o + o for i, o in layer_shapes(arch, n_in, n_out))


def forward_flops(arch: Arch, n_in: int = N_INPUTS, n_out: int = N_CLASSES) -> int:
    """Forward FLOPs per example: 2 per multiply-add of every dense layer.

    Bias additions and ReLUs (one FLOP per unit, < 0.3% of the total here) are
    not counted, so this is the matmul work that the roofline bench divides by
    the measured matmul throughput.
    """
    return sum(2 * i * o for i, o in layer_shapes(arch, n_in, n_out))


def train_flops(arch: Arch, n_in: int = N_INPUTS, n_out: int = N_CLASSES) -> int:
    """Matmul FLOPs of one training example: forward, plus the backward products.

    Backward needs the weight gradient of every layer (same work as forward)
    and the input gradient of every layer but the first (the data needs none),
    so this is ``3 * forward - 2 * n_in * width_1``: the minimum a trainer must
    do, the numerator of the compute lower bound.
    """
    return 3 * forward_flops(arch, n_in, n_out) - 2 * n_in * arch[0]


def arch_seed(arch: Arch) -> int:
    """A stable 31-bit integer per architecture (CRC-32 of its name).

    The trainer draws a network's initial weights with NumPy from the stream
    ``default_rng([seed, arch_seed(arch)])`` (:func:`hyperlab.training.mlp.init_weights`),
    so its result does not depend on which other networks share its compiled
    trainer or on the order of the space.
    """
    return zlib.crc32(arch_name(arch).encode()) & 0x7FFFFFFF
