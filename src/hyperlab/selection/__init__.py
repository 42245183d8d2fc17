"""Architecture selection: the space of MLPs, its tabular benchmark, and the search strategies.

The ``candidates`` stage trains every network of the space once (a tabular
benchmark in the manner of NAS-Bench-101 / HPOBench, docs/REFERENCES.md §1); the
search strategies are then run many times against that table. One concern per
sub-package, arrows pointing down (``tests/test_architecture.py``):

- :mod:`.space`     the networks (hidden-layer counts x widths) and their Optuna encoding
- :mod:`.table`     the candidate table: built, checked against the params, loaded once as a ``Table``
- :mod:`.samplers`  our Optuna samplers (GP, cost-aware TPE, random over networks): they know no table
- :mod:`.study`     running a strategy's studies against the table (the search stage), reading them back
- :mod:`.analysis`  regret, fronts, statistics, verdicts (the compare stage) and the sampler benchmark

:mod:`.names` (the strategy and cost names ``params.yaml`` may use) imports nothing, so the
config checks them without loading any of the above.
"""
