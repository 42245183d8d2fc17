"""``bilevel``, ``hypernet``, ``drmad``: hypergradients on the toy problem (:mod:`hyperlab.bilevel`)."""

from typing import Annotated, Literal

from pydantic import Field, model_validator

from hyperlab.bilevel.names import DRMAD_OUTER_OPTIMIZERS, HYPERNET_KINDS, HYPERNET_VARIANTS, OUTER_OPTIMIZERS
from hyperlab.config import checks
from hyperlab.config.bounds import LR_MIN, SIGMA_MIN
from hyperlab.config.fields import ConfigError, Distinct, Flag, Int, List, Number, Section, check

# |h|, |w| up to 1e3: L_train = |h + w|^2 stays far inside float32 (1e300 would be inf at step 0)
_Start = Annotated[Number, Field(ge=-1e3, le=1e3)]


class BilevelParams(Section):
    """``bilevel``: n-order hypergradients on L_train = |h + w|^2, L_val = |w|^2."""

    orders: Distinct[Annotated[Int, Field(ge=0, le=100)]] = Field((0, 1, 2, 3, 4, 5), min_length=1)
    dim: Int = Field(1, ge=1, le=10_000)
    inner_lr: Number = Field(0.1, ge=LR_MIN, lt=1)
    inner_steps: Int = Field(1, ge=1, le=1000)
    outer_optimizer: Literal[OUTER_OPTIMIZERS] = "sgd"  # type: ignore[valid-type]
    outer_lr: Number = Field(0.2, ge=LR_MIN, le=10)
    outer_steps: Int = Field(60, ge=1, le=100_000)
    h0: _Start | Annotated[List[_Start], Field(min_length=1)] = 1.0  # one number (every coordinate) or dim
    w0: _Start | Annotated[List[_Start], Field(min_length=1)] = 1.0
    # L_val is float32: under its smallest normal number (1.2e-38) a tolerance is 0, met only by an exact zero
    val_tol: Number = Field(1e-3, ge=1e-30, le=1e3)

    @model_validator(mode="after")
    def _starts_have_dim_coordinates(self):
        for key in ("h0", "w0"):
            value = getattr(self, key)
            if isinstance(value, tuple) and len(value) not in (1, self.dim):
                raise ConfigError(
                    f"params.yaml: bilevel.{key}: got {len(value)} values; "
                    f"must be one number or a list of bilevel.dim = {self.dim}"
                )
        return self


class HypernetParams(Section):
    """``hypernet``: hypernetwork best responses w_phi(h) on the toy problem (Lorraine & Duvenaud 2018)."""

    kinds: Distinct[Literal[HYPERNET_KINDS]] = Field(HYPERNET_KINDS, min_length=1)  # type: ignore[valid-type]
    variants: Distinct[Literal[HYPERNET_VARIANTS]] = Field(HYPERNET_VARIANTS, min_length=1)  # type: ignore[valid-type]
    hidden: List[Annotated[Int, Field(ge=1, le=4096)]] = Field((32, 32), min_length=1)
    h_range: Annotated[List[Annotated[Number, Field(ge=-100, le=100)]], check(checks.low_high)] = (-2.0, 2.0)
    h0: Number = Field(1.5, ge=-100, le=100)
    sigma: Number = Field(0.5, ge=SIGMA_MIN, le=100)
    batch: Int = Field(64, ge=1, le=1_000_000)
    phi_lr: Number = Field(0.03, ge=LR_MIN, le=10)
    h_lr: Number = Field(0.1, ge=LR_MIN, le=10)
    global_phi_steps: Int = Field(1000, ge=1, le=10_000_000)
    global_h_steps: Int = Field(200, ge=1, le=10_000_000)
    local_steps: Int = Field(1000, ge=1, le=10_000_000)
    n_seeds: Int = Field(5, ge=1, le=10_000)


class DrmadParams(Section):
    """``drmad``: DrMAD and K-piece trajectory linearization on the toy problem (Fu et al. 2016)."""

    T: Int = Field(100, ge=2, le=100_000)
    lr: Number = Field(0.2, ge=LR_MIN, le=10)
    # the tuned hyperparameter is log(momentum) (and log(lr)): below 1e-3 the trajectory has no momentum left
    momentum: Number = Field(0.9, ge=1e-3, lt=1)
    pieces: Distinct[Annotated[Int, Field(ge=1, le=100_000)]] = Field((1, 2, 4, 8, 16, 32), min_length=1)
    h0: Number = Field(1.5, ge=-100, le=100)
    w0: Number = Field(1.0, ge=-100, le=100)
    outer_optimizer: Literal[DRMAD_OUTER_OPTIMIZERS] = "adam"  # type: ignore[valid-type]
    outer_lr: Number = Field(0.05, ge=LR_MIN, le=10)
    outer_steps: Int = Field(40, ge=1, le=100_000)
    tune_lr: Flag = True
    quartic: Number = Field(0.1, ge=0, le=10)

    @model_validator(mode="after")
    def _pieces_fit_the_trajectory(self):
        too_big = [k for k in self.pieces if k > self.T]
        if too_big:
            raise ConfigError(f"params.yaml: drmad.pieces: got {too_big[0]}; every K must be <= drmad.T = {self.T}")
        return self
