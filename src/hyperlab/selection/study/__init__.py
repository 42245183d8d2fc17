"""Running the search strategies against the table: the search stage's machinery.

- :mod:`.strategies`  a fresh, seeded Optuna sampler per strategy and study
- :mod:`.runner`      ``repeats`` studies of a strategy, in memory or on a shared storage (the search stage)
- :mod:`.pool`        the process pool every parallel run goes through: one line when a worker dies
- :mod:`.storage`     the shared study storages: journal file or RDB, trial slots, resume
- :mod:`.trials`      reading a search back (``data/search/<strategy>.csv``, ``data/latency.csv``), checked
"""
