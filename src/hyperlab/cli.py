"""What every stage script shares: logging, progress bars, one-line errors.

The errors and the progress bar live in base modules (:mod:`hyperlab.errors`,
:mod:`hyperlab.progress`) that library code may import; they are re-exported
here for the stage scripts. No library module imports this one.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path

from hyperlab import backend, compile_cache
from hyperlab.config import ConfigError, parse_yaml, validate_all
from hyperlab.errors import InputError, OutputError
from hyperlab.io import check_inputs_committed, stage_outputs
from hyperlab.progress import progress

__all__ = ["InputError", "OutputError", "progress", "setup_logging", "stage_name", "run_stage"]

log = logging.getLogger("hyperlab")


#: Optuna's log level in every stage. Set here, once per process, and nowhere in the library: Optuna's level is
#: process-wide, so a second setting elsewhere would silently override this one for everything after it. WARNING:
#: a failed or pruned trial is reported; the line Optuna writes for every finished trial is not.
OPTUNA_LEVEL = logging.WARNING


def setup_logging(level: int = logging.INFO) -> None:
    """Log lines on stderr with time and logger; JAX's and Optuna's chatter at WARNING (:data:`OPTUNA_LEVEL`)."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr
    )
    # JAX logs its backend probing ("Unable to initialize backend 'tpu'") at INFO: noise here.
    logging.getLogger("jax").setLevel(logging.WARNING)
    # Through Optuna's own switch: it installs its handler and level on first use, overriding a plain setLevel.
    import optuna  # here, not at the top: a script that only imports this module pays nothing

    optuna.logging.set_verbosity(OPTUNA_LEVEL)


def stage_name(argv: list[str] | None = None) -> str:
    """``bilevel`` for ``stages/bilevel.py``, ``search@tpe`` for ``stages/search.py tpe`` (a folder name)."""
    argv = sys.argv if argv is None else argv
    name = Path(argv[0]).stem + (f"@{argv[1]}" if len(argv) > 1 else "")
    return re.sub(r"[^\w@.-]", "_", name)


DVC_FILE = Path("dvc.yaml")


def _substitute(text: str, key: str, item) -> str:
    text = text.replace("${key}", key)
    return text.replace("${item}", item) if isinstance(item, str) else text


def stage_reads(name: str, dvc_file: Path = DVC_FILE) -> list[str] | None:
    """The paths stage ``name`` (``search@tpe`` for a foreach entry) depends on in ``dvc_file``; None if unknown.

    What a stage reads is what DVC hashes for it, so the pipeline file is the
    one list of it. A dependency still templated after ``${key}`` and
    ``${item}`` (a foreach over params) counts as the folder before the
    template: the safe side.
    """
    base, _, key = name.partition("@")
    try:
        stage = parse_yaml(dvc_file.read_text(), dvc_file)["stages"][base]
        if key:
            foreach = stage["foreach"]
            item = foreach.get(key) if isinstance(foreach, dict) else None
            stage = stage["do"]
        deps = [_substitute(str(d), key, item) if key else str(d) for d in stage.get("deps") or []]
    except (OSError, ConfigError, KeyError, TypeError, AttributeError):
        return None
    return [d.split("${", 1)[0].rstrip("/") or "." for d in deps]


def run_stage(main: Callable[[], None], name: str | None = None) -> None:
    """Run a stage's ``main``; a params, input or output problem exits 2 with one line on stderr.

    The whole ``params.yaml`` is validated first, whichever stage this is;
    then no file the stage reads may be half-committed by another stage (a
    kill during that stage's commit: :func:`hyperlab.io.check_inputs_committed`).
    ``main`` runs inside :func:`hyperlab.io.stage_outputs`: everything it
    writes is committed together when it returns, and nothing when it fails.
    The accelerator policy (:mod:`hyperlab.backend`) is applied before anything runs.
    """
    setup_logging()
    backend.configure()
    compile_cache.enable()
    name = name or stage_name()
    try:
        validate_all()
        check_inputs_committed(name, stage_reads(name))
        with stage_outputs(name):
            main()
            if "jax" in sys.modules:  # a stage that computed with JAX says where
                log.info("%s ran on %s", name, backend.describe())
    except (ConfigError, InputError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
