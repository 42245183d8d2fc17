"""Typed, validated view of ``params.yaml``.

Every section is a frozen dataclass; each field carries a :func:`spec` that says
what is allowed. :func:`load_section` turns the raw YAML mapping into the
dataclass, or raises :class:`ConfigError` with one line that names the key, the
bad value and what is allowed -- before any stage does heavy work.

Keys missing from ``params.yaml`` take the dataclass default, so
``dvc exp run -S section.key=value`` works for every key.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

PARAMS_FILE = Path("params.yaml")
#: The repository's own params.yaml (for tests and tools run from elsewhere).
REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"

TOP_LEVEL_KEYS = ("seed", "order")  # plus one key per section of SECTIONS (defined below)


class ConfigError(ValueError):
    """A params problem, stated in one line."""


def spec(default: Any = dataclasses.MISSING, *, ge: float | None = None, gt: float | None = None,
         le: float | None = None, lt: float | None = None, choices: Sequence[Any] | None = None,
         min_len: int | None = None, check: Callable[[Any], str | None] | None = None,
         default_factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field with its allowed values.

    Bounds apply to a number or to every element of a list. ``check`` returns an
    error description (``"must be ..."``) or ``None``.
    """
    meta = dict(ge=ge, gt=gt, le=le, lt=lt, choices=tuple(choices) if choices else None,
                min_len=min_len, check=check)
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def distinct(value: tuple) -> str | None:
    """A ``spec(check=...)`` for lists whose elements must not repeat."""
    return "must not repeat a value" if len(set(value)) != len(value) else None


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(tp)
        return f"a list of {_type_name(inner)}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    return {int: "integer", float: "number", str: "string", bool: "boolean",
            type(None): "null"}.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(value: Any, tp: Any) -> tuple[bool, Any]:
    """(ok, value converted to ``tp``). bool is never accepted as a number."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            ok, out = _coerce(value, arg)
            if ok:
                return True, out
        return False, None
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            return False, None
        items = [_coerce(v, inner) for v in value]
        if not all(ok for ok, _ in items):
            return False, None
        return True, tuple(v for _, v in items)
    if tp is type(None):
        return value is None, None
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else None
    if tp is str:
        return isinstance(value, str), value
    raise TypeError(f"unsupported params type {tp!r}")


def _range_problem(x: Any, meta: dict) -> str | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    for key, op, word in (("ge", float.__ge__, ">="), ("gt", float.__gt__, ">"),
                          ("le", float.__le__, "<="), ("lt", float.__lt__, "<")):
        bound = meta.get(key)
        if bound is not None and not op(float(x), float(bound)):
            return f"must be {word} {bound}"
    return None


def _check_value(value: Any, meta: dict) -> str | None:
    choices = meta.get("choices")
    items = value if isinstance(value, tuple) else (value,)
    for x in items:
        if isinstance(x, float) and not math.isfinite(x):
            return "must be a finite number"
        if choices is not None and x not in choices:
            return f"allowed: {', '.join(map(str, choices))}"
        problem = _range_problem(x, meta)
        if problem:
            return problem
    if meta.get("min_len") is not None and isinstance(value, tuple) and len(value) < meta["min_len"]:
        return f"must have at least {meta['min_len']} element(s)"
    if meta.get("check") is not None:
        return meta["check"](value)
    return None


def _parse_nested(raw: Any, tp: Any, meta: dict, name: str):
    """A dataclass-typed field, or a ``dict[str, Dataclass]`` (keys limited by ``choices``); else None.

    Nested mappings let a stage depend on one sub-mapping only (DVC ``params:
    [search.strategies.gp_ei]``), so changing one entry reruns only its stage.
    """
    if dataclasses.is_dataclass(tp):
        return parse_section(tp, raw, name)
    if typing.get_origin(tp) is dict:
        key_type, value_type = typing.get_args(tp)
        if not isinstance(raw, dict):
            raise ConfigError(f"params.yaml: {name}: got {raw!r}; must be a mapping")
        if meta.get("min_len") is not None and len(raw) < meta["min_len"]:
            raise ConfigError(f"params.yaml: {name}: got {raw!r}; must have at least {meta['min_len']} entry(ies)")
        out = {}
        for key, value in raw.items():
            if not isinstance(key, key_type) or (meta.get("choices") and key not in meta["choices"]):
                allowed = ", ".join(map(str, meta["choices"])) if meta.get("choices") else _type_name(key_type)
                raise ConfigError(f"params.yaml: {name}.{key}: unknown entry; allowed: {allowed}")
            out[key] = parse_section(value_type, value, f"{name}.{key}")
        return out
    return None


def parse_section(cls: type, raw: Any, name: str):
    """Build dataclass ``cls`` from the mapping ``raw`` found at key ``name``."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"params.yaml: {name}: got {raw!r}; must be a mapping of keys")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    where = f"{name}." if name else ""
    hints = typing.get_type_hints(cls)
    for key in raw:
        if key not in fields:
            raise ConfigError(f"params.yaml: {where}{key}: unknown key; allowed: {', '.join(fields)}")
    values = {}
    for key, field in fields.items():
        if key not in raw:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ConfigError(f"params.yaml: {where}{key}: missing; required ({_type_name(hints[key])})")
            continue
        nested = _parse_nested(raw[key], hints[key], dict(field.metadata), f"{where}{key}")
        if nested is not None:
            values[key] = nested
            continue
        ok, value = _coerce(raw[key], hints[key])
        if not ok:
            raise ConfigError(f"params.yaml: {where}{key}: got {raw[key]!r}; must be {_type_name(hints[key])}")
        problem = _check_value(value, dict(field.metadata))
        if problem:
            raise ConfigError(f"params.yaml: {where}{key}: got {raw[key]!r}; {problem}")
        values[key] = value
    return cls(**values)


class ParamsLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading numbers as YAML 1.2 (and DVC) do, and refusing duplicate keys.

    PyYAML implements YAML 1.1, where a float needs a dot: ``1e-05`` -- exactly
    what ``dvc exp run -S bilevel.outer_lr=0.00001`` writes, since DVC's
    ruamel.yaml follows YAML 1.2 -- and ``1E3`` would be strings. YAML 1.2's
    core schema reads them (and ``.5``, ``-1e-3``) as floats. A repeated key
    would silently keep the last value; DVC itself refuses such a file.
    """

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
                   |[-+]?\.(?:inf|Inf|INF)
                   |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def parse_yaml(text: str, name: str | Path = PARAMS_FILE) -> Any:
    """``text`` parsed with :class:`ParamsLoader`; a syntax error is one line naming ``name``."""
    try:
        return yaml.load(text, Loader=ParamsLoader)  # noqa: S506 -- a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{name}: not valid YAML{where}: {' '.join(str(problem).split())}") from None


def read_params(path: str | Path = PARAMS_FILE) -> dict:
    """The whole ``params.yaml`` as a mapping; unknown top-level keys are rejected."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: not found; run from the repository root, where params.yaml lives")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({' '.join(str(err.strerror or err).split())})") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start}); must be a YAML file") from None
    raw = parse_yaml(text, path)
    return check_top_level(raw, path)


def check_top_level(raw: Any, path: str | Path = PARAMS_FILE) -> dict:
    """``raw`` if it is a mapping of known top-level keys."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must be a mapping of sections, got {type(raw).__name__}")
    for key in raw:
        allowed = (*TOP_LEVEL_KEYS, *SECTIONS)
        if key not in allowed:
            raise ConfigError(f"{path}: {key}: unknown top-level key; allowed: {', '.join(allowed)}")
    return raw


# --------------------------------------------------------------------------- sections


@dataclasses.dataclass(frozen=True)
class Common:
    """Top-level keys every stage may read."""
    seed: int = spec(0, ge=0, lt=2**31)
    order: int = spec(1, ge=0, le=100)


MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


def _urls(value: tuple[str, ...]) -> str | None:
    bad = [u for u in value if not u.startswith(("http://", "https://", "file://"))]
    return f"must be http(s):// or file:// URLs, not {bad[0]!r}" if bad else None


#: Digits in each source: (train pool, test pool); the bundled subset has one pool (test None).
SOURCE_SIZES = {"bundled": (5000, None), "full": (60000, 10000)}


def check_split_sizes(n_train: int, n_val: int, n_test: int, n_pool: int, n_test_pool: int | None,
                      source: str) -> None:
    """The split sizes fit the source's pools; else one line naming the keys (before any work)."""
    if n_test_pool is None:
        if n_train + n_val + n_test > n_pool:
            raise ConfigError(f"params.yaml: data.n_train + data.n_val + data.n_test: got {n_train} + {n_val} + "
                              f"{n_test} = {n_train + n_val + n_test}; must be <= the {n_pool} digits of {source}")
        return
    if n_train + n_val > n_pool:
        raise ConfigError(f"params.yaml: data.n_train + data.n_val: got {n_train} + {n_val} = {n_train + n_val}; "
                          f"must be <= the {n_pool} training digits of {source}")
    if n_test > n_test_pool:
        raise ConfigError(f"params.yaml: data.n_test: got {n_test}; must be <= the {n_test_pool} test digits "
                          f"of {source}")


@dataclasses.dataclass(frozen=True)
class DataParams:
    """``data``: where the MNIST digits come from and how they are split."""
    source: str = spec("bundled", choices=("bundled", "full", "idx_dir"))
    n_train: int = spec(3000, ge=10, le=SOURCE_SIZES["full"][0])
    n_val: int = spec(1000, ge=10, le=SOURCE_SIZES["full"][0])
    n_test: int = spec(1000, ge=10, le=SOURCE_SIZES["full"][0])
    mirrors: tuple[str, ...] = spec(MNIST_MIRRORS, min_len=1, check=_urls)
    cache_dir: str = spec(".cache/mnist")
    idx_dir: str = spec("")
    timeout_s: float = spec(30.0, gt=0, le=3600)

    def __post_init__(self):
        if self.source == "idx_dir" and not self.idx_dir:
            raise ConfigError("params.yaml: data.idx_dir: empty; must name a folder when data.source is idx_dir")
        if self.source in SOURCE_SIZES:  # idx_dir: checked once its files are read (data.make_splits)
            check_split_sizes(self.n_train, self.n_val, self.n_test, *SOURCE_SIZES[self.source],
                              f"data.source {self.source}")


@dataclasses.dataclass(frozen=True)
class CandidatesParams:
    """``candidates``: the architecture space, and how every network of it is trained and timed."""
    layers: tuple[int, ...] = spec((1, 2, 3), ge=1, le=6, min_len=1, check=distinct)
    widths: tuple[int, ...] = spec((16, 32, 64, 128, 256, 512), ge=1, le=4096, min_len=1, check=distinct)
    n_seeds: int = spec(2, ge=1, le=64)
    epochs: int = spec(10, ge=1, le=10000)
    batch_size: int = spec(100, ge=1, le=100_000)
    learning_rate: float = spec(1e-3, gt=0, le=1)
    latency_batch: int = spec(256, ge=1, le=100000)
    latency_repeats: int = spec(21, ge=3, le=10000)
    latency_warmup: int = spec(3, ge=1, le=1000)
    max_pack_params: int = spec(100_000_000, ge=1, le=10**12)
    eval_chunk: int = spec(500, ge=1, le=1_000_000)

    def __post_init__(self):
        n = sum(len(self.widths) ** k for k in self.layers)
        if n > 20000:
            raise ConfigError(f"params.yaml: candidates.layers: got {list(self.layers)} with "
                              f"{len(self.widths)} widths = {n} networks; allowed at most 20000")


@dataclasses.dataclass(frozen=True)
class BilevelParams:
    """``bilevel``: n-order hypergradients on L_train = |h + w|^2, L_val = |w|^2."""
    orders: tuple[int, ...] = spec((0, 1, 2, 3, 4, 5), ge=0, le=100, min_len=1, check=distinct)
    dim: int = spec(1, ge=1, le=10_000)
    inner_lr: float = spec(0.1, gt=0, lt=1)
    inner_steps: int = spec(1, ge=1, le=1000)
    outer_optimizer: str = spec("sgd", choices=("sgd", "momentum", "adam"))
    outer_lr: float = spec(0.2, gt=0, le=10)
    outer_steps: int = spec(60, ge=1, le=100_000)
    # |h|, |w| up to 1e3: L_train = |h + w|^2 stays far inside float32 (1e300 would be inf at step 0)
    h0: float | tuple[float, ...] = spec(1.0, ge=-1e3, le=1e3, min_len=1)
    w0: float | tuple[float, ...] = spec(1.0, ge=-1e3, le=1e3, min_len=1)
    val_tol: float = spec(1e-3, gt=0, le=1e3)

    def __post_init__(self):
        for key in ("h0", "w0"):
            value = getattr(self, key)
            if isinstance(value, tuple) and len(value) not in (1, self.dim):
                raise ConfigError(f"params.yaml: bilevel.{key}: got {len(value)} values; "
                                  f"must be one number or a list of bilevel.dim = {self.dim}")


def _hypernet_range(value: tuple) -> str | None:
    return None if len(value) == 2 and value[0] < value[1] else "must be [low, high] with low < high"


@dataclasses.dataclass(frozen=True)
class HypernetParams:
    """``hypernet``: hypernetwork best responses w_phi(h) on the toy problem (Lorraine & Duvenaud 2018)."""
    kinds: tuple[str, ...] = spec(("linear", "mlp"), choices=("linear", "mlp"), min_len=1,
                                  check=distinct)
    variants: tuple[str, ...] = spec(("global", "local"), choices=("global", "local"), min_len=1,
                                     check=distinct)
    hidden: tuple[int, ...] = spec((32, 32), ge=1, le=4096, min_len=1)
    h_range: tuple[float, ...] = spec((-2.0, 2.0), ge=-100, le=100, check=_hypernet_range)
    h0: float = spec(1.5, ge=-100, le=100)
    sigma: float = spec(0.5, gt=0, le=100)
    batch: int = spec(64, ge=1, le=1_000_000)
    phi_lr: float = spec(0.03, gt=0, le=10)
    h_lr: float = spec(0.1, gt=0, le=10)
    global_phi_steps: int = spec(1000, ge=1, le=10_000_000)
    global_h_steps: int = spec(200, ge=1, le=10_000_000)
    local_steps: int = spec(1000, ge=1, le=10_000_000)
    n_seeds: int = spec(5, ge=1, le=10_000)


@dataclasses.dataclass(frozen=True)
class DrmadParams:
    """``drmad``: DrMAD and K-piece trajectory linearization on the toy problem (Fu et al. 2016)."""
    T: int = spec(100, ge=2, le=100_000)
    lr: float = spec(0.2, gt=0, le=10)
    momentum: float = spec(0.9, gt=0, lt=1)
    pieces: tuple[int, ...] = spec((1, 2, 4, 8, 16, 32), ge=1, le=100_000, min_len=1, check=distinct)
    h0: float = spec(1.5, ge=-100, le=100)
    w0: float = spec(1.0, ge=-100, le=100)
    outer_optimizer: str = spec("adam", choices=("sgd", "adam"))
    outer_lr: float = spec(0.05, gt=0, le=10)
    outer_steps: int = spec(40, ge=1, le=100_000)
    tune_lr: bool = spec(True)
    quartic: float = spec(0.1, ge=0, le=10)

    def __post_init__(self):
        too_big = [k for k in self.pieces if k > self.T]
        if too_big:
            raise ConfigError(f"params.yaml: drmad.pieces: got {too_big[0]}; "
                              f"every K must be <= drmad.T = {self.T}")


@dataclasses.dataclass(frozen=True)
class L2LParams:
    """``l2l``: learning to learn by gradient descent by gradient descent (Andrychowicz et al. 2016)."""
    hidden: tuple[int, ...] = spec((20,), ge=1, le=4096, min_len=1)
    activation: str = spec("sigmoid", choices=("sigmoid", "relu", "tanh"))
    batch_size: int = spec(128, ge=1, le=100_000)
    n_steps: int = spec(100, ge=2, le=100_000)
    lstm_hidden: int = spec(20, ge=1, le=1024)
    lstm_layers: int = spec(2, ge=1, le=8)
    preprocess_p: float = spec(10.0, gt=0, le=50)
    output_scale: float = spec(0.1, gt=0, le=10)
    unroll: int = spec(20, ge=1, le=100_000)
    meta_seeds: int = spec(3, ge=1, le=64)
    meta_steps: int = spec(100, ge=1, le=10_000_000)
    meta_batch: int = spec(2, ge=1, le=1024)
    meta_lr: float = spec(0.005, gt=0, le=1)
    clip_norm: float = spec(1.0, gt=0, le=1e6)
    val_every: int = spec(10, ge=1, le=10_000_000)
    val_runs: int = spec(8, ge=2, le=10_000)
    lr_grid: tuple[float, ...] = spec((0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0),
                                      gt=0, le=100, min_len=1, check=distinct)
    tune_runs: int = spec(8, ge=1, le=10_000)
    eval_runs: int = spec(20, ge=2, le=100_000)
    long_steps: int = spec(200, ge=2, le=100_000)
    record_every: int = spec(5, ge=1, le=100_000)
    generalization: tuple[str, ...] = spec(("hidden40", "layers2", "relu"),
                                           choices=("hidden40", "layers2", "relu"), check=distinct)

    def __post_init__(self):
        if self.n_steps % self.unroll:
            raise ConfigError(f"params.yaml: l2l.unroll: got {self.unroll}; must divide "
                              f"l2l.n_steps = {self.n_steps}")
        if self.long_steps < self.n_steps:
            raise ConfigError(f"params.yaml: l2l.long_steps: got {self.long_steps}; must be >= "
                              f"l2l.n_steps = {self.n_steps}")
        if self.n_steps % self.record_every or self.long_steps % self.record_every:
            raise ConfigError(f"params.yaml: l2l.record_every: got {self.record_every}; must divide "
                              f"l2l.n_steps = {self.n_steps} and l2l.long_steps = {self.long_steps}")


SEARCH_STRATEGIES = ("random_uniform", "random", "gp_ei", "tpe", "gp_ei_per_second", "tpe_per_second",
                     "gp_ei_constrained", "tpe_constrained", "motpe")
SEARCH_COSTS = ("latency", "train_time", "flops")


def _cost_or_none(value: Any) -> str | None:
    return None if value is None or value in SEARCH_COSTS else f"allowed: {', '.join(SEARCH_COSTS)}"


def _rdb_url_problem(url: str) -> str | None:
    """Why Optuna could not open the RDB URL ``url`` (unknown scheme, driver not installed), or None.

    Asks SQLAlchemy -- which Optuna's RDBStorage uses -- for the dialect and
    imports its driver, without connecting: a server that is down is a run-time
    matter, a URL that can never work is a params error.
    """
    scheme = url.split("://", 1)[0]
    try:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    except ImportError:
        return "an RDB URL needs SQLAlchemy, which is not installed"
    try:
        dialect = make_url(url).get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError):
        return f"unknown database URL scheme {scheme + '://'!r}; must be e.g. postgresql://, sqlite:///"
    try:
        (getattr(dialect, "import_dbapi", None) or dialect.dbapi)()
    except ImportError as err:
        return f"the driver for {scheme}:// is not installed (cannot import {err.name or err})"
    return None


def _storage(value: str) -> str | None:
    """``none``, an RDB URL Optuna can open, or a journal file path whose folder exists."""
    if not value.strip():
        return "must be none, a journal file path or an RDB URL"
    if value == "none":
        return None
    if "://" in value:
        return _rdb_url_problem(value)
    path = Path(value)
    if path.is_dir():
        return "is a folder; must be a journal file path (none, a file path or an RDB URL)"
    if not path.parent.is_dir():
        return f"folder {str(path.parent)!r} does not exist; must be a journal file path in an existing folder"
    return None


#: Random trials before a model-based strategy uses its model, unless its entry says otherwise.
DEFAULT_STARTUP_TRIALS = 10


@dataclasses.dataclass(frozen=True)
class StrategyParams:
    """``search.strategies.<name>``: one strategy's own settings (its own cached DVC stage)."""
    # random trials before the model is used (random: unused); absent: min(10, search.n_trials)
    n_startup_trials: int | None = spec(None, ge=1, le=10000)
    # cost of a trial for this strategy (the *_per_second ones divide by it); absent: search.cost
    cost: str | None = spec(None, check=_cost_or_none)


@dataclasses.dataclass(frozen=True)
class SearchParams:
    """``search``: architecture-search strategies run many times against the candidate table."""
    strategies: dict[str, StrategyParams] = spec(
        default_factory=lambda: {name: StrategyParams() for name in SEARCH_STRATEGIES},
        choices=SEARCH_STRATEGIES, min_len=1)
    n_trials: int = spec(40, ge=2, le=10000)
    repeats: int = spec(20, ge=1, le=1000)
    cost: str = spec("train_time", choices=SEARCH_COSTS)
    storage: str = spec("none", check=_storage)
    n_workers: int = spec(1, ge=1, le=64)
    target_quantile: float = spec(0.05, gt=0, lt=1)
    # latency budget of the *_constrained strategies and of the budget reading: this quantile of the networks'
    # (seed-mean) latencies; 0.5 = the median network's latency
    latency_budget_quantile: float = spec(0.5, gt=0, le=1)
    n_bootstrap: int = spec(2000, ge=100, le=100000)  # compare: resamples of the bootstrap intervals
    # stage latency: independent re-timings of every network (rounds, pause between them)
    latency_rounds: int = spec(2, ge=1, le=100)
    latency_gap_seconds: float = spec(20.0, ge=0, le=3600)

    def __post_init__(self):
        resolved = {}
        for name, strategy in self.strategies.items():
            if strategy.n_startup_trials is None:  # not in the file: a default that always fits
                strategy = StrategyParams(min(DEFAULT_STARTUP_TRIALS, self.n_trials), strategy.cost)
            elif strategy.n_startup_trials > self.n_trials:
                raise ConfigError(f"params.yaml: search.strategies.{name}.n_startup_trials: got "
                                  f"{strategy.n_startup_trials}; must be <= search.n_trials ({self.n_trials})")
            resolved[name] = strategy
        object.__setattr__(self, "strategies", resolved)


def _checkpoints(value: tuple) -> str | None:
    return None if list(value) == sorted(set(value)) else "must be strictly increasing"


@dataclasses.dataclass(frozen=True)
class SamplerBenchParams:
    """``sampler_bench``: GP samplers vs TPE and random on the table, Hartmann-6 and Branin."""
    table_repeats: int = spec(20, ge=2, le=1000)
    table_trials: int = spec(40, ge=2, le=10_000)
    function_repeats: int = spec(10, ge=2, le=1000)
    function_trials: int = spec(50, ge=2, le=10_000)
    n_startup_trials: int = spec(10, ge=1, le=10_000)
    target_regret: float = spec(0.003, gt=0, le=1e3)
    timing_checkpoints: tuple[int, ...] = spec((10, 50, 200), ge=1, le=10_000, min_len=1, check=_checkpoints)
    timing_suggestions: int = spec(15, ge=1, le=1000)
    n_workers: int = spec(2, ge=1, le=64)

    def __post_init__(self):
        trials = min(self.table_trials, self.function_trials)
        if self.n_startup_trials > trials:
            raise ConfigError(f"params.yaml: sampler_bench.n_startup_trials: got {self.n_startup_trials}; "
                              f"must be <= sampler_bench.table_trials and function_trials ({trials})")


@dataclasses.dataclass(frozen=True)
class FiguresParams:
    """``figures``: rendering only (never reruns an experiment)."""
    dpi: int = spec(120, ge=30, le=600)
    digits_per_class: int = spec(8, ge=1, le=30)


SECTIONS: dict[str, type] = {
    "data": DataParams,
    "candidates": CandidatesParams,
    "search": SearchParams,
    "bilevel": BilevelParams,
    "hypernet": HypernetParams,
    "drmad": DrmadParams,
    "l2l": L2LParams,
    "sampler_bench": SamplerBenchParams,
    "figures": FiguresParams,
}


def load_section(name: str, path: str | Path = PARAMS_FILE):
    """Validated section ``name`` of ``params.yaml``."""
    raw = read_params(path)
    return parse_section(SECTIONS[name], raw.get(name), name)


def load_common(path: str | Path = PARAMS_FILE) -> Common:
    """Validated top-level ``seed`` and ``order``."""
    raw = read_params(path)
    return parse_section(Common, {k: raw[k] for k in ("seed", "order") if k in raw}, "")


def validate_all(path: str | Path = PARAMS_FILE) -> None:
    """Validate every section of ``params.yaml`` (cheap: no stage work).

    Every stage calls this first, so a bad value anywhere stops ``dvc repro``
    at the first stage that runs -- within seconds -- instead of after the
    long stages that precede the one that reads it.
    """
    validate_raw(read_params(path), path)


def validate_raw(raw: Any, path: str | Path = PARAMS_FILE) -> None:
    """:func:`validate_all` on an already parsed mapping (the fuzz tests call it in-process)."""
    raw = check_top_level(raw, path)
    common = parse_section(Common, {k: raw[k] for k in ("seed", "order") if k in raw}, "")
    sections = {name: parse_section(cls, raw.get(name), name) for name, cls in SECTIONS.items()}
    orders = sections["bilevel"].orders
    if common.order not in orders:
        raise ConfigError(f"params.yaml: order: got {common.order}; "
                          f"must be one of bilevel.orders ({', '.join(map(str, orders))})")
