"""The sections of ``params.yaml``: every key, its default and what it allows.

A key missing from ``params.yaml`` takes the default here, so ``dvc exp run -S
section.key=value`` works for every key. Every number has both bounds
(``1.0e+300`` is refused, not run). Names (strategies, optimizers, ...) come
from the library module that owns them.
"""

from typing import Annotated, Literal

from pydantic import Field, model_validator

from hyperlab.bilevel.names import DRMAD_OUTER_OPTIMIZERS, HYPERNET_KINDS, HYPERNET_VARIANTS, OUTER_OPTIMIZERS
from hyperlab.config import checks
from hyperlab.config.checks import SOURCE_SIZES, check_split_sizes
from hyperlab.config.fields import ConfigError, Distinct, Flag, Int, List, Number, Section, Text, check
from hyperlab.hpo.names import METHODS as HPO_METHODS
from hyperlab.l2l.names import ACTIVATIONS, GENERALIZATION, META_LR_SCHEDULES, META_OBJECTIVES
from hyperlab.selection.names import COSTS, STRATEGIES

# Literal[NAMES] over a tuple of names: typing flattens it at runtime (the schema pydantic checks), but mypy
# only accepts literal values there, hence the `type: ignore[valid-type]` on those fields.

TOP_LEVEL_KEYS = ("seed", "order")  # plus one key per section of SECTIONS

# Lower bounds of keys that must be positive: a value near 0 (1e-300) is valid for a "> 0" check but runs a
# different, meaningless experiment (a learning rate of 1e-300 trains nothing and reports the untrained net).
#: Every step size: an Adam or SGD step under 1e-8 leaves float32 weights of order 1 unchanged (eps 1.2e-7).
LR_MIN = 1e-8
#: Std of the samples of h around ĥ: under 1e-4 they differ by less than a float32 hypernetwork fits, so it
#: learns one point, not a local best response.
SIGMA_MIN = 1e-4
#: Quantiles over the candidate networks: under 1 / 20000 (the largest space allowed) every one is the best net.
QUANTILE_MIN = 1e-4


class Common(Section):
    """Top-level keys every stage may read."""

    seed: Int = Field(0, ge=0, lt=2**31)
    order: Int = Field(1, ge=0, le=100)


MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_MAX_SPLIT = SOURCE_SIZES["full"][0]


class DataParams(Section):
    """``data``: where the MNIST digits come from and how they are split."""

    source: Literal["bundled", "full", "idx_dir"] = "bundled"
    n_train: Int = Field(3000, ge=10, le=_MAX_SPLIT)
    n_val: Int = Field(1000, ge=10, le=_MAX_SPLIT)
    n_test: Int = Field(1000, ge=10, le=_MAX_SPLIT)
    mirrors: Annotated[List[Text], check(checks.urls)] = Field(MNIST_MIRRORS, min_length=1)
    cache_dir: Text = ".cache/mnist"
    idx_dir: Text = ""
    timeout_s: Number = Field(30.0, ge=0.1, le=3600)  # below 0.1 s no mirror can answer: every fetch fails

    @model_validator(mode="after")
    def _fits_the_source(self):
        if self.source == "idx_dir" and not self.idx_dir:
            raise ConfigError("params.yaml: data.idx_dir: empty; must name a folder when data.source is idx_dir")
        if self.source in SOURCE_SIZES:  # idx_dir: checked once its files are read (data.make_splits)
            check_split_sizes(
                self.n_train, self.n_val, self.n_test, *SOURCE_SIZES[self.source], f"data.source {self.source}"
            )
        return self


class CandidatesParams(Section):
    """``candidates``: the architecture space, and how every network of it is trained and timed."""

    layers: Distinct[Annotated[Int, Field(ge=1, le=6)]] = Field((1, 2, 3), min_length=1)
    widths: Distinct[Annotated[Int, Field(ge=1, le=4096)]] = Field((16, 32, 64, 128, 256, 512), min_length=1)
    n_seeds: Int = Field(2, ge=1, le=64)
    epochs: Int = Field(10, ge=1, le=10000)
    batch_size: Int = Field(100, ge=1, le=100_000)
    learning_rate: Number = Field(1e-3, ge=LR_MIN, le=1)
    latency_batch: Int = Field(256, ge=1, le=100000)
    latency_repeats: Int = Field(21, ge=3, le=10000)
    latency_warmup: Int = Field(3, ge=1, le=1000)
    max_pack_params: Int = Field(100_000_000, ge=1, le=10**12)
    eval_chunk: Int = Field(500, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _space_is_not_too_big(self):
        n = sum(len(self.widths) ** k for k in self.layers)
        if n > 20000:
            raise ConfigError(
                f"params.yaml: candidates.layers: got {list(self.layers)} with "
                f"{len(self.widths)} widths = {n} networks; allowed at most 20000"
            )
        return self


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


class L2LParams(Section):
    """``l2l``: learning to learn by gradient descent by gradient descent (Andrychowicz et al. 2016)."""

    hidden: List[Annotated[Int, Field(ge=1, le=4096)]] = Field((20,), min_length=1)
    activation: Literal[ACTIVATIONS] = "sigmoid"  # type: ignore[valid-type]
    batch_size: Int = Field(128, ge=1, le=100_000)
    n_steps: Int = Field(100, ge=2, le=100_000)
    lstm_hidden: Int = Field(20, ge=1, le=1024)
    lstm_layers: Int = Field(2, ge=1, le=8)
    # the gradient preprocessing switches form at |g| = exp(-p): p < 1 treats every gradient above 0.37 as small
    preprocess_p: Number = Field(10.0, ge=1, le=50)
    # the LSTM output times this is the step: under 1e-6 no float32 weight moves
    output_scale: Number = Field(0.1, ge=1e-6, le=10)
    unroll: Int = Field(20, ge=1, le=100_000)
    meta_seeds: Int = Field(3, ge=1, le=64)
    meta_steps: Int = Field(100, ge=1, le=10_000_000)
    meta_batch: Int = Field(2, ge=1, le=1024)
    meta_lr: Number = Field(0.005, ge=LR_MIN, le=1)
    meta_lr_schedule: Literal[META_LR_SCHEDULES] = "constant"  # type: ignore[valid-type]
    meta_objective: Literal[META_OBJECTIVES] = "mean"  # type: ignore[valid-type]
    meta_ema: Number = Field(0.0, ge=0, lt=1)
    # meta-gradients clipped to a norm under 1e-6 drown in Adam's eps (1e-8) per coordinate: no meta-learning
    clip_norm: Number = Field(1.0, ge=1e-6, le=1e6)
    val_every: Int = Field(10, ge=1, le=10_000_000)
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


#: Random trials before a model-based strategy uses its model, unless its entry says otherwise.
DEFAULT_STARTUP_TRIALS = 10


class StrategyParams(Section):
    """``search.strategies.<name>``: one strategy's own settings (its own cached DVC stage)."""

    # random trials before the model is used (random: unused); absent: min(10, search.n_trials)
    n_startup_trials: Annotated[Int, Field(ge=1, le=10000)] | None = None
    # cost of a trial for this strategy (the *_per_second ones divide by it); absent: search.cost
    cost: Literal[COSTS] | None = None  # type: ignore[valid-type]


class SearchParams(Section):
    """``search``: architecture-search strategies run many times against the candidate table.

    ``strategies`` maps names to their own settings, so that a stage may depend
    on one entry only (DVC ``params: [search.strategies.gp_ei]``): changing one
    entry reruns only its stage.
    """

    strategies: dict[Literal[STRATEGIES], StrategyParams] = Field(  # type: ignore[valid-type]
        default_factory=lambda: {name: StrategyParams() for name in STRATEGIES}, min_length=1
    )
    n_trials: Int = Field(40, ge=2, le=10000)
    repeats: Int = Field(20, ge=1, le=1000)
    cost: Literal[COSTS] = "train_time"  # type: ignore[valid-type]
    storage: Annotated[Text, check(checks.storage)] = "none"
    n_workers: Int = Field(1, ge=1, le=64)
    target_quantile: Number = Field(0.05, ge=QUANTILE_MIN, lt=1)
    # latency budget of the *_constrained strategies and of the budget reading: this quantile of the networks'
    # (seed-mean) latencies; 0.5 = the median network's latency
    latency_budget_quantile: Number = Field(0.5, ge=QUANTILE_MIN, le=1)
    n_bootstrap: Int = Field(2000, ge=100, le=100000)  # compare: resamples of the bootstrap intervals
    # stage latency: independent re-timings of every network (rounds, pause between them)
    latency_rounds: Int = Field(2, ge=1, le=100)
    latency_gap_seconds: Number = Field(20.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _startup_trials_fit(self):
        resolved = {}
        for name, strategy in self.strategies.items():
            if strategy.n_startup_trials is None:  # not in the file: a default that always fits
                strategy = strategy.model_copy(update={"n_startup_trials": min(DEFAULT_STARTUP_TRIALS, self.n_trials)})
            elif strategy.n_startup_trials > self.n_trials:
                raise ConfigError(
                    f"params.yaml: search.strategies.{name}.n_startup_trials: got "
                    f"{strategy.n_startup_trials}; must be <= search.n_trials ({self.n_trials})"
                )
            resolved[name] = strategy
        object.__setattr__(self, "strategies", resolved)  # frozen: set once, while validating
        return self


class SamplerBenchParams(Section):
    """``sampler_bench``: GP samplers vs TPE and random on the table, Hartmann-6 and Branin."""

    table_repeats: Int = Field(20, ge=2, le=1000)
    table_trials: Int = Field(40, ge=2, le=10_000)
    function_repeats: Int = Field(10, ge=2, le=1000)
    function_trials: Int = Field(50, ge=2, le=10_000)
    n_startup_trials: Int = Field(10, ge=1, le=10_000)
    # a table regret is a difference of error rates (steps of 1 / n_val >= 1.7e-5): 1e-6 is "the best network"
    target_regret: Number = Field(0.003, ge=1e-6, le=1e3)
    timing_checkpoints: Annotated[List[Annotated[Int, Field(ge=1, le=10_000)]], check(checks.increasing)] = Field(
        (10, 50, 200), min_length=1
    )
    timing_suggestions: Int = Field(15, ge=1, le=1000)
    n_workers: Int = Field(2, ge=1, le=64)
    # table: the regret an oracle's noise floor is read at (the second-best network's 0.0005)
    floor_regret: Number = Field(0.0005, ge=0, le=1)

    @model_validator(mode="after")
    def _startup_trials_fit(self):
        trials = min(self.table_trials, self.function_trials)
        if self.n_startup_trials > trials:
            raise ConfigError(
                f"params.yaml: sampler_bench.n_startup_trials: got {self.n_startup_trials}; "
                f"must be <= sampler_bench.table_trials and function_trials ({trials})"
            )
        return self


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


class FiguresParams(Section):
    """``figures``: rendering only (never reruns an experiment)."""

    dpi: Int = Field(120, ge=30, le=600)
    digits_per_class: Int = Field(8, ge=1, le=30)


SECTIONS: dict[str, type[Section]] = {
    "data": DataParams,
    "candidates": CandidatesParams,
    "search": SearchParams,
    "bilevel": BilevelParams,
    "hypernet": HypernetParams,
    "drmad": DrmadParams,
    "l2l": L2LParams,
    "sampler_bench": SamplerBenchParams,
    "hpo": HpoParams,
    "figures": FiguresParams,
}
