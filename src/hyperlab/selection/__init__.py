"""Architecture selection: the space of MLPs, its tabular benchmark, and the search strategies.

:mod:`hyperlab.selection.space.architectures` enumerates the space (hidden-layer count and
widths, docs/REFERENCES.md §1); the ``candidates`` stage trains every network of it
once (a tabular benchmark in the manner of NAS-Bench-101 / HPOBench), and the
search strategies are run many times against that table.
"""
