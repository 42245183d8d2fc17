"""``l2l``: learning to learn (:mod:`hyperlab.l2l`; stages ``l2l_train`` and ``l2l``)."""

from typing import Annotated, Literal

from pydantic import Field, model_validator

from hyperlab.config.bounds import LR_MIN
from hyperlab.config.fields import ConfigError, Distinct, Int, List, Number, Section
from hyperlab.l2l.names import ACTIVATIONS, GENERALIZATION, META_LR_SCHEDULES, META_OBJECTIVES, RECIPES


class RecipeRunParams(Section):
    """``l2l.recipes.<name>``: how long one recipe (:mod:`hyperlab.l2l.recipes`) is meta-trained."""

    meta_updates: Int = Field(ge=1, le=10_000_000)


class L2LParams(Section):
    """``l2l``: learning to learn by gradient descent by gradient descent (Andrychowicz et al. 2016)."""

    hidden: List[Annotated[Int, Field(ge=1, le=4096)]] = Field((20,), min_length=1)
    activation: Literal[ACTIVATIONS] = "sigmoid"  # type: ignore[valid-type]
    batch_size: Int = Field(128, ge=1, le=100_000)
    n_steps: Int = Field(100, ge=2, le=100_000)
    lstm_hidden: Int = Field(20, ge=1, le=1024)
    lstm_layers: Int = Field(2, ge=1, le=8)
    unroll: Int = Field(20, ge=1, le=100_000)
    meta_seeds: Int = Field(2, ge=1, le=64)
    # recipe name (hyperlab.l2l.recipes: preprocessing, output scale, meta-optimizer) -> how long it runs
    recipes: dict[Literal[RECIPES], RecipeRunParams] = Field(  # type: ignore[valid-type]
        default_factory=lambda: {
            "appendix": RecipeRunParams(meta_updates=1000),
            "released": RecipeRunParams(meta_updates=3000),
        },
        min_length=1,
    )
    # meta-updates at which each recipe's kept weights are scored on fresh val optimizees (the budget curve)
    budgets: Distinct[Annotated[Int, Field(ge=1, le=10_000_000)]] = Field((100, 300, 1000, 3000), min_length=1)
    budget_runs: Int = Field(20, ge=2, le=10_000)
    meta_lr_schedule: Literal[META_LR_SCHEDULES] = "constant"  # type: ignore[valid-type]
    meta_objective: Literal[META_OBJECTIVES] = "mean"  # type: ignore[valid-type]
    meta_ema: Number = Field(0.0, ge=0, lt=1)
    val_every: Int = Field(100, ge=1, le=10_000_000)
    val_runs: Int = Field(8, ge=2, le=10_000)
    lr_grid: Distinct[Annotated[Number, Field(ge=LR_MIN, le=100)]] = Field(
        (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0), min_length=1
    )
    tune_runs: Int = Field(8, ge=1, le=10_000)
    eval_runs: Int = Field(20, ge=2, le=100_000)
    long_steps: Int = Field(200, ge=2, le=100_000)
    record_every: Int = Field(5, ge=1, le=100_000)
    generalization: Distinct[Literal[GENERALIZATION]] = GENERALIZATION  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _lengths_divide(self):
        if self.n_steps % self.unroll:
            raise ConfigError(f"params.yaml: l2l.unroll: got {self.unroll}; must divide l2l.n_steps = {self.n_steps}")
        longest = max(r.meta_updates for r in self.recipes.values())
        if max(self.budgets) > longest:
            raise ConfigError(
                f"params.yaml: l2l.budgets: got {max(self.budgets)}; must be <= the most meta-updates of any "
                f"recipe in l2l.recipes ({longest})"
            )
        if self.long_steps < self.n_steps:
            raise ConfigError(
                f"params.yaml: l2l.long_steps: got {self.long_steps}; must be >= l2l.n_steps = {self.n_steps}"
            )
        if self.n_steps % self.record_every or self.long_steps % self.record_every:
            raise ConfigError(
                f"params.yaml: l2l.record_every: got {self.record_every}; must divide "
                f"l2l.n_steps = {self.n_steps} and l2l.long_steps = {self.long_steps}"
            )
        return self
