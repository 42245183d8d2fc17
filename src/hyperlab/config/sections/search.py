"""``candidates``, ``search``, ``sampler_bench``: the architecture search (:mod:`hyperlab.selection`).

Stages ``candidates``, ``search@<strategy>``, ``latency``, ``compare`` and ``sampler_bench``.
"""

from typing import Annotated, Literal

from pydantic import Field, model_validator

from hyperlab.config import checks
from hyperlab.config.bounds import LR_MIN, QUANTILE_MIN
from hyperlab.config.fields import ConfigError, Distinct, Int, List, Number, Section, Text, check
from hyperlab.selection.names import COSTS, LATENCY_COST, STRATEGIES


class CandidatesParams(Section):
    """``candidates``: the architecture space, and how every network of it is trained and timed."""

    layers: Distinct[Annotated[Int, Field(ge=1, le=6)]] = Field((1, 2, 3), min_length=1)
    widths: Distinct[Annotated[Int, Field(ge=1, le=4096)]] = Field((16, 32, 64, 128, 256, 512), min_length=1)
    n_seeds: Int = Field(4, ge=1, le=64)
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
    repeats: Int = Field(20, ge=1, le=1000)  # studies per strategy and table realization
    # independent realizations of the table: 1 = every seed; R >= 2: realization r observes (and is scored on)
    # seeds 2r, 2r + 1 only, and a verdict is stated only where it holds on every one (candidates.n_seeds >= 2 R)
    table_realizations: Int = Field(1, ge=1, le=32)
    cost: Literal[COSTS] = "train_time"  # type: ignore[valid-type]
    # no password: DVC records the value (checks.url_without_password says where the secret goes)
    storage: Annotated[Text, check(checks.url_without_password("search.storage")), check(checks.storage)] = "none"
    n_workers: Int = Field(1, ge=1, le=64)
    # RDB storage: a running trial's heartbeat interval, and how long a silent one lives before its slot is
    # re-enqueued (a worker stalled longer than the grace period, e.g. swapping, loses its trial)
    heartbeat_seconds: Int = Field(1, ge=1, le=3600)
    heartbeat_grace_seconds: Int = Field(6, ge=2, le=86400)
    target_quantile: Number = Field(0.05, ge=QUANTILE_MIN, lt=1)
    # latency budget of the *_constrained strategies and of the budget reading: this quantile of the networks'
    # (seed-mean) latencies; 0.5 = the median network's latency
    latency_budget_quantile: Number = Field(0.5, ge=QUANTILE_MIN, le=1)
    n_bootstrap: Int = Field(2000, ge=100, le=100000)  # compare: resamples of the bootstrap intervals
    # stage latency: independent re-timings of every network (rounds, pause between them)
    latency_rounds: Int = Field(2, ge=1, le=100)
    latency_gap_seconds: Number = Field(20.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _grace_outlasts_a_beat(self):
        if self.heartbeat_grace_seconds <= self.heartbeat_seconds:
            raise ConfigError(
                f"params.yaml: search.heartbeat_grace_seconds: got {self.heartbeat_grace_seconds}; must be > "
                f"search.heartbeat_seconds ({self.heartbeat_seconds}): a live worker's beat must land within it"
            )
        return self

    @model_validator(mode="after")
    def _latency_strategies_cost_latency(self):
        for name in LATENCY_COST:
            entry = self.strategies.get(name)
            if entry is not None and entry.cost not in (None, "latency"):
                raise ConfigError(
                    f"params.yaml: search.strategies.{name}.cost: got {entry.cost!r}; a *_per_ms_latency "
                    "strategy's cost is the inference latency: allowed: latency (or leave it out)"
                )
        return self

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


#: Seeds of the candidate table one realization observes (realization r: seeds 2r and 2r + 1 after ``seed``).
SEEDS_PER_REALIZATION = 2


def check_realizations(search: SearchParams, candidates: CandidatesParams) -> None:
    """One :class:`ConfigError` line unless the table has the disjoint seed pairs ``search.table_realizations`` needs.

    One realization is the whole table (every seed), so it fits any ``candidates.n_seeds``.
    """
    need = SEEDS_PER_REALIZATION * search.table_realizations
    if search.table_realizations > 1 and candidates.n_seeds < need:
        raise ConfigError(
            f"params.yaml: search.table_realizations: got {search.table_realizations}; each realization needs "
            f"{SEEDS_PER_REALIZATION} seeds of its own, so candidates.n_seeds must be >= {need} "
            f"(it is {candidates.n_seeds}); allowed: 1..{max(1, candidates.n_seeds // SEEDS_PER_REALIZATION)}"
        )


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
