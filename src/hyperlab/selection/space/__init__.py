"""The architecture space and how a search names its points.

- :mod:`.architectures`  the networks of the space (hidden-layer counts x widths), their width columns
- :mod:`.encoding`       the fixed-length Optuna encoding of a network, and its canonical form

The bottom of :mod:`hyperlab.selection`: it imports nothing of the table, the
samplers, the study or the analysis.
"""
