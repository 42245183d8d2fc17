"""The names ``params.yaml`` may give a search strategy or a trial's cost: defined here only.

Light on purpose (no Optuna, no NumPy): :mod:`hyperlab.config` checks
``search.strategies`` and ``search.cost`` against these before any stage
imports the modules that implement them (:mod:`.study.strategies`, :mod:`.table.benchmark`).
"""

#: Every search strategy, in the order tables and figures list them (docs/architecture-search.md).
STRATEGIES = (
    "random_uniform",
    "random_layerwise",
    "gp_ei",
    "tpe",
    "gp_ei_per_second",
    "tpe_per_second",
    "gp_ei_per_ms_latency",
    "tpe_per_ms_latency",
    "gp_ei_constrained",
    "tpe_constrained",
    "motpe",
)
#: Strategies that minimize (validation error, latency) together.
MULTI_OBJECTIVE = ("motpe",)
#: Strategies that search under latency <= the budget.
CONSTRAINED = ("gp_ei_constrained", "tpe_constrained")
#: Cost-aware strategies whose cost is always the table's inference latency (per ms of latency), whatever
#: ``search.cost`` says: the assignment's runtime-aware search, beside the ``*_per_second`` ones.
LATENCY_COST = ("gp_ei_per_ms_latency", "tpe_per_ms_latency")
#: The strategy every other is tested against (``compare``), and the one whose found front is drawn.
BASELINE = "random_uniform"
PARETO_STRATEGY = "motpe"

#: A trial's cost (``search.cost``) -> the candidate-table column that holds it.
COST_COLUMNS = {"latency": "latency_ms", "train_time": "train_seconds", "flops": "flops"}
COSTS = tuple(COST_COLUMNS)
