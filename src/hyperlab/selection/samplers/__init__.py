"""Optuna samplers of our own, usable in any study: they know nothing of the table or the search stage.

- :mod:`.gp`              torch-free GP samplers (GP-EI, EI per second, constrained GP-EI)
- :mod:`.cost_tpe`        TPE whose candidates are ranked per unit of cost
- :mod:`.network_random`  random search over a finite set of points, without repeats

This ``__init__`` imports nothing, so ``from hyperlab.selection.samplers.gp import GPEISampler``
(as :mod:`hyperlab.hpo` does) loads the GP samplers alone.
"""
