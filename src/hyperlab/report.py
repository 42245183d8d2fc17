"""A stage's results, split into headline metrics and a detailed report.

``dvc exp show`` prints one column per metric leaf of every file under
``metrics/``, so a stage that dumps all its details there buries the few
numbers a reader compares between experiments. A stage therefore writes its
full results to ``plots/<stage>/report.json`` (an output, never a metric) and
only its headline numbers to ``metrics/<stage>.json``. The whole pipeline keeps
to :data:`MAX_METRICS` metric columns (tested over the committed metrics).

Every experiment has one shape: ``run(params, <inputs>, progress=silent) -> Result``
(``progress`` where it has a loop to report), computing everything and writing
nothing; its stage script parses the params, reads the inputs, calls ``run``
and writes the :class:`Result` (:func:`write_outputs`, plus the products under
the paths dvc.yaml declares).
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hyperlab.io import write_csv, write_json, write_tables

MAX_METRICS = 42  # over all stages: what still fits a `dvc exp show` a reader can scan


def leaves(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every leaf of a nested metrics dict by dotted name: the columns ``dvc exp show`` prints."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(leaves(value, f"{name}."))
        else:
            out[name] = value
    return out


def write_results(
    metrics_path: str | Path, report_path: str | Path, report: Mapping[str, Any], headline: Mapping[str, Any]
) -> None:
    """Write the full ``report`` (an output for readers and plots) and the ``headline`` metrics.

    Headline values must be numbers (or None for "not reached"): a string or a
    list in ``metrics/`` is a column nobody can compare.
    """
    bad = {
        k: v
        for k, v in leaves(headline).items()
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real))
    }
    if bad:
        raise TypeError(f"headline metrics must be numbers; got {bad}")
    write_json(report_path, report)
    write_json(metrics_path, headline)


@dataclasses.dataclass(frozen=True)
class Result:
    """What an experiment's ``run`` returns and its stage writes unchanged."""

    tables: dict[str, Any]  # plot data: path relative to the stage's plot folder -> DataFrame
    metrics: dict[str, Any]  # headline numbers, metrics/<stage>.json ({} for a stage without one)
    report: dict[str, Any]  # every number, plots/<stage>/report.json
    # inputs of later stages by name (a DataFrame, or a dict of arrays for an .npz): the stage names their paths
    products: dict[str, Any] = dataclasses.field(default_factory=dict)


def write_outputs(
    result: Result,
    plots: str | Path,
    metrics: str | Path | None,
    *,
    report_name: str = "report.json",
    own_folder: bool = True,
) -> None:
    """Write ``result``'s tables under ``plots``, its report there and its headline to ``metrics``.

    ``own_folder``: the plot folder is this stage's alone, so every other CSV
    in it is a leftover of other params and goes (:func:`hyperlab.io.write_tables`);
    otherwise (a folder shared by two stages) each table is written on its own.
    ``metrics=None``: a stage with no headline writes only the report.
    """
    plots = Path(plots)
    if own_folder:
        write_tables(plots, result.tables)
    else:
        for name, frame in result.tables.items():
            write_csv(plots / name, frame)
    if metrics is None:
        write_json(plots / report_name, result.report)
    else:
        write_results(metrics, plots / report_name, result.report, result.metrics)
