"""``hpo``: hypergradient methods vs Bayesian optimization on real hyperparameters (:mod:`hyperlab.hpo`)."""

from typing import Annotated, Literal

from pydantic import Field, model_validator

from hyperlab.config import checks
from hyperlab.config.bounds import LR_MIN, SIGMA_MIN
from hyperlab.config.fields import ConfigError, Distinct, Flag, Int, List, Number, Section, check
from hyperlab.hpo.names import FAMILIES, SCALE_METHODS
from hyperlab.hpo.names import METHODS as HPO_METHODS


class HpoParams(Section):
    """``hpo``: hypergradient methods vs Bayesian optimization on per-layer L2 and the learning rate (MNIST)."""

    hidden: List[Annotated[Int, Field(ge=1, le=1024)]] = Field((16,), min_length=0, max_length=3)
    n_train: Int = Field(500, ge=10, le=60_000)  # the first n_train training digits, full batch
    T: Int = Field(80, ge=2, le=10_000)  # inner gradient steps from the fixed initialization
    tune_lr: Flag = True  # h = per-layer log L2 (+ log learning rate)
    lr0: Number = Field(0.1, ge=LR_MIN, le=100)
    l2_0: Number = Field(-6.0, ge=-30, le=10)  # initial log L2 coefficient of every layer
    l2_box: Annotated[List[Annotated[Number, Field(ge=-30, le=10)]], check(checks.low_high)] = (-12.0, 0.0)
    lr_box: Annotated[List[Annotated[Number, Field(ge=LR_MIN, le=100)]], check(checks.low_high)] = (0.01, 2.0)
    methods: Distinct[Literal[HPO_METHODS]] = Field(HPO_METHODS, min_length=1)  # type: ignore[valid-type]
    orders: Distinct[Annotated[Int, Field(ge=1, le=100)]] = Field((1, 3, 5), min_length=1)
    online_every: Int = Field(4, ge=1, le=10_000)  # inner steps between two online hyper-steps
    pieces: Int = Field(4, ge=2, le=10_000)  # K of the K-piece linearization (K = 1 is drmad)
    cg_maxiter: Int = Field(30, ge=1, le=10_000)
    outer_lr: Number = Field(0.2, ge=LR_MIN, le=10)  # Adam on h, every gradient method
    hypernet_every: Int = Field(10, ge=1, le=100_000)
    hypernet_batch: Int = Field(2, ge=1, le=1024)
    hypernet_sigma: Number = Field(0.5, ge=SIGMA_MIN, le=10)
    hypernet_phi_lr: Number = Field(0.003, ge=LR_MIN, le=10)
    n_startup_trials: Int = Field(5, ge=1, le=10_000)
    seeds: Int = Field(5, ge=1, le=1000)
    # the wall-clock reading: under 0.01 s not one hyper-step of any method fits (compilation excluded)
    budget_seconds: Number = Field(4.0, ge=0.01, le=3600)
    step_budget: Int = Field(1600, ge=1, le=10**9)
    check_points: Int = Field(3, ge=1, le=100)
    # central differences in float32 (eps 1.2e-7): a step under 1e-4 is mostly rounding noise
    fd_eps: Number = Field(0.01, ge=1e-4, le=1)

    @model_validator(mode="after")
    def _fits(self):
        if max(self.orders) >= self.T:
            raise ConfigError(
                f"params.yaml: hpo.orders: got {max(self.orders)}; every order must be < hpo.T = {self.T}"
            )
        if self.pieces > self.T:
            raise ConfigError(f"params.yaml: hpo.pieces: got {self.pieces}; must be <= hpo.T = {self.T}")
        if not self.l2_box[0] <= self.l2_0 <= self.l2_box[1]:
            raise ConfigError(f"params.yaml: hpo.l2_0: got {self.l2_0}; must lie in hpo.l2_box {list(self.l2_box)}")
        if not self.lr_box[0] <= self.lr0 <= self.lr_box[1]:
            raise ConfigError(f"params.yaml: hpo.lr0: got {self.lr0}; must lie in hpo.lr_box {list(self.lr_box)}")
        return self


class HpoScaleParams(Section):
    """``hpo_scale``: every method on hyperparameter families of growing dimension (the ``hpo`` problem)."""

    families: Distinct[Literal[FAMILIES]] = Field(  # type: ignore[valid-type]
        tuple(f for f in FAMILIES if f != "input"), min_length=1
    )  # input (d = 795) is opt-in: it adds a sixth of the stage's time
    knots: Int = Field(8, ge=1, le=10_000)  # knots per layer of the ``knots`` family's learning-rate schedule
    methods: Distinct[Literal[SCALE_METHODS]] = Field(SCALE_METHODS, min_length=1)  # type: ignore[valid-type]
    order: Int = Field(5, ge=1, le=10_000)  # online<n>: look-ahead steps of each hyper-step
    online_every: Int = Field(4, ge=1, le=10_000)  # inner steps between two online hyper-steps
    pieces: Int = Field(4, ge=2, le=10_000)  # K of kpiece<K> (drmad is K = 1)
    cg_maxiter: Int = Field(30, ge=1, le=10_000)  # conjugate-gradient iterations of IFT
    outer_lr: Number = Field(0.2, ge=LR_MIN, le=10)  # Adam on h, every descent method
    n_startup_trials: Int = Field(5, ge=1, le=10_000)  # GP-EI and TPE: random trials after h0
    # GP-EI and TPE run through an Optuna study, whose bookkeeping per trial grows as d^2
    optuna_max_dim: Int = Field(1000, ge=1, le=10**6)
    cma_full_max_dim: Int = Field(1000, ge=1, le=10**6)  # full-covariance CMA-ES up to here, separable above
    embedding_dim: Int = Field(10, ge=1, le=100)  # hesbo: dimension of the embedding GP-EI searches
    seeds: Int = Field(5, ge=1, le=1000)
    # the headline budget: forward-step equivalents per method and seed (a reverse step and a CG product
    # converted by their measured cost), the same for every method; 4,800 = 60 evaluations of f
    compute_budget: Int = Field(4800, ge=1, le=10**9)
    step_budget: Int = Field(1600, ge=1, le=10**9)  # the secondary view: forward steps only, reverse passes free
    check_points: Int = Field(2, ge=1, le=100)  # h0 + uniform points where hypergradients are compared
    fd_max_dim: Int = Field(20, ge=1, le=10**6)  # central differences per coordinate up to here
    fd_directions: Int = Field(8, ge=1, le=1000)  # above: along this many random directions
    # float64 central differences: truncation ~eps^2, rounding ~1e-16/eps
    fd_eps: Number = Field(1e-4, ge=1e-8, le=1)

    def check_against(self, problem: HpoParams) -> None:
        """The keys bounded by the ``hpo`` problem's T (the stage checks them before any work)."""
        for key, most in (("order", problem.T - 1), ("pieces", problem.T)):
            if getattr(self, key) > most:
                raise ConfigError(
                    f"params.yaml: hpo_scale.{key}: got {getattr(self, key)}; must be <= {most} (hpo.T = {problem.T})"
                )


class HpoSweepParams(Section):
    """``hpo_sweep``: d varied alone, within one kind of hyperparameter (``hpo_scale``'s runs, budgets and settings).

    Each kind's members beside the ``hpo_scale`` families that belong to it: ``knots`` (K =
    ``hpo_scale.knots``) and ``schedule`` (K = T) for the learning-rate knots, ``weight`` (G =
    every kernel weight) for the L2 groups; their rows are read from ``hpo_scale``'s tables.
    """

    # K: a per-layer log-lr schedule in K knots, L2 per layer (d = 2K + 2)
    lr_knots: Distinct[Annotated[Int, Field(ge=1, le=10_000)]] = Field((1, 2, 4), min_length=1)
    # G: one log L2 per block of G contiguous kernel weights, one lr (d = G + 1)
    l2_groups: Distinct[Annotated[Int, Field(ge=1, le=10**6)]] = Field((1, 16, 256), min_length=1)
    methods: Distinct[Literal[SCALE_METHODS]] = Field(  # type: ignore[valid-type]
        ("exact", "kpiece", "drmad", "gp_ei", "tpe", "random", "cmaes", "hesbo"), min_length=2
    )

    def check_against(self, problem: HpoParams, scale: HpoScaleParams, n_kernel_weights: int) -> None:
        """The keys bounded by the problem (T, the network's kernel weights) and by ``hpo_scale``'s runs."""
        if max(self.lr_knots) > problem.T:
            raise ConfigError(
                f"params.yaml: hpo_sweep.lr_knots: got {max(self.lr_knots)}; every K must be <= hpo.T = {problem.T}"
            )
        if max(self.l2_groups) > n_kernel_weights:
            raise ConfigError(
                f"params.yaml: hpo_sweep.l2_groups: got {max(self.l2_groups)}; every G must be <= {n_kernel_weights} "
                "(the network's kernel weights)"
            )
        missing = [m for m in self.methods if m not in scale.methods]
        if missing:
            raise ConfigError(
                f"params.yaml: hpo_sweep.methods: {', '.join(missing)} not in hpo_scale.methods "
                "(the sweep reads hpo_scale's rows for the families they share)"
            )
