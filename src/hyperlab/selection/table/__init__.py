"""The candidate table: trained once, loaded and checked once, read by every search and analysis.

- :mod:`.validate`              the schema contract of ``data/candidates.csv`` (:class:`~.validate.TableError`)
- :mod:`.table`                 :class:`~.table.Table`: the rows in canonical order, the per-network truth,
                                the space, checked against the space and seeds the params ask for
- :mod:`.candidate_table`       building the table from trained networks; the candidates stage's summaries
- :mod:`.candidates_experiment` the candidates stage: train and time every network of the space
- :mod:`.retiming`              independent re-timings of every network (the latency stage)
- :mod:`.benchmark`             the Optuna objective that looks a network up in the table
- :mod:`.synthetic`             a plausible table without training, for tests and benches
"""
