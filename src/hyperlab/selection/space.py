"""The architecture space: ReLU MLPs given by their hidden-layer widths.

A network is a tuple of hidden widths, e.g. ``(64, 32)``; the space holds
every tuple whose length is one of ``candidates.layers`` and whose entries are
taken from ``candidates.widths`` (docs/REFERENCES.md §1, "Search space"). With the
defaults (1, 2, 3 layers; 6 widths) that is 6 + 36 + 216 = 258 networks.

The helpers here also give the per-network quantities the table records that
need no training: the name ``"64-32"``, the parameter count and the forward
FLOPs per example.
"""

from __future__ import annotations

import itertools
import zlib
from typing import Sequence

N_INPUTS = 28 * 28
N_CLASSES = 10

Arch = tuple[int, ...]


def enumerate_space(layers: Sequence[int], widths: Sequence[int]) -> list[Arch]:
    """Every architecture: by layer count (ascending), then widths in lexicographic order."""
    ws = sorted(set(widths))
    return [arch for n in sorted(set(layers)) for arch in itertools.product(ws, repeat=n)]


def space_size(layers: Sequence[int], widths: Sequence[int]) -> int:
    """``sum_L |widths|^L`` without enumerating."""
    k = len(set(widths))
    return sum(k ** n for n in set(layers))


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
    ``default_rng([seed, arch_seed(arch)])`` (:func:`hyperlab.training.mlp.init_params`),
    so its result does not depend on which other networks share its compiled
    trainer or on the order of the space.
    """
    return zlib.crc32(arch_name(arch).encode()) & 0x7FFFFFFF


def width_columns(max_layers: int) -> list[str]:
    """``["width_1", ..., "width_L"]``."""
    return [f"width_{i + 1}" for i in range(max_layers)]
