"""Reading the searches: regret, fronts, paired statistics, verdicts, and the stages that report them.

- :mod:`.fronts`         Pareto fronts, hypervolume, IGD+ (pure geometry: imports nothing of hyperlab)
- :mod:`.regret`         regret curves against the table's truth (search and observed-incumbent regret)
- :mod:`.recommend`      the post-hoc GP recommendation every strategy's study is also scored by
- :mod:`.stats`          paired tests, Holm correction, bootstrap intervals
- :mod:`.verdicts`       the plain-language verdicts and the headline numbers
- :mod:`.noise_floor`    how much of the regret is the noise of one seed
- :mod:`.per_table`      the comparison on one realization of the table
- :mod:`.robust`         the paired verdicts that hold on every realization of the table
- :mod:`.compare`        the compare stage: every strategy's trials into plot data and a report
- :mod:`.sampler_bench_experiment`  the sampler_bench stage: our GP samplers against TPE and random
"""
