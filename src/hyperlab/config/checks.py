"""Checks that a bound or a list of choices cannot state: URLs, storage, ranges, split sizes.

Each value check returns what is wrong (``"must be ..."``) or None, and is
attached to its key with :func:`hyperlab.config.fields.check`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from hyperlab.config.fields import ConfigError

#: Digits in each source: (train pool, test pool); the bundled subset has one pool (test None).
SOURCE_SIZES = {"bundled": (5000, None), "full": (60000, 10000)}


def check_split_sizes(n_train: int, n_val: int, n_test: int, n_pool: int, n_test_pool: int | None, source: str) -> None:
    """The split sizes fit the source's pools; else one line naming the keys (before any work)."""
    if n_test_pool is None:
        if n_train + n_val + n_test > n_pool:
            raise ConfigError(
                f"params.yaml: data.n_train + data.n_val + data.n_test: got {n_train} + {n_val} + "
                f"{n_test} = {n_train + n_val + n_test}; must be <= the {n_pool} digits of {source}"
            )
        return
    if n_train + n_val > n_pool:
        raise ConfigError(
            f"params.yaml: data.n_train + data.n_val: got {n_train} + {n_val} = {n_train + n_val}; "
            f"must be <= the {n_pool} training digits of {source}"
        )
    if n_test > n_test_pool:
        raise ConfigError(
            f"params.yaml: data.n_test: got {n_test}; must be <= the {n_test_pool} test digits of {source}"
        )


def urls(value: tuple[str, ...]) -> str | None:
    bad = [u for u in value if not u.startswith(("http://", "https://", "file://"))]
    return f"must be http(s):// or file:// URLs, not {bad[0]!r}" if bad else None


def low_high(value: tuple) -> str | None:
    return None if len(value) == 2 and value[0] < value[1] else "must be [low, high] with low < high"


def increasing(value: tuple) -> str | None:
    return None if list(value) == sorted(set(value)) else "must be strictly increasing"


def _rdb_url_problem(url: str) -> str | None:
    """Why Optuna could not open the RDB URL ``url`` (unknown scheme, driver not installed), or None.

    Asks SQLAlchemy -- which Optuna's RDBStorage uses -- for the dialect and
    imports its driver, without connecting: a server that is down is a run-time
    matter, a URL that can never work is a params error.
    """
    scheme = url.split("://", 1)[0]
    try:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    except ImportError:
        return "an RDB URL needs SQLAlchemy, which is not installed"
    try:
        dialect = make_url(url).get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError):
        return f"unknown database URL scheme {scheme + '://'!r}; must be e.g. postgresql://, sqlite:///"
    try:
        # cast: import_dbapi, or dbapi where SQLAlchemy still names it so: a callable either way
        cast(Callable[[], Any], getattr(dialect, "import_dbapi", None) or dialect.dbapi)()
    except ImportError as err:
        return f"the driver for {scheme}:// is not installed (cannot import {err.name or err})"
    return None


#: Longest file or folder name (one path component) in bytes: NAME_MAX of Linux, macOS and Windows file systems.
MAX_NAME_BYTES = 255
#: Longest path in bytes: PATH_MAX of Linux.
MAX_PATH_BYTES = 4096


def path(value: str) -> str | None:
    """A file or folder path every system can create: no empty or blank name, no control character, no name
    over :data:`MAX_NAME_BYTES` bytes (the file system's limit), at most :data:`MAX_PATH_BYTES` bytes in all.

    Refused as a params error, not met as an OSError (or a folder named ``' '``) partway into a stage.
    """
    if not value.strip():
        return "must name a path (got an empty or blank one)"
    bad = next((c for c in value if ord(c) < 0x20 or ord(c) == 0x7F), None)
    if bad is not None:
        return f"holds the control character {bad!r}; must be a path of printable characters"
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_PATH_BYTES:
        return f"is {size} bytes long; must be at most {MAX_PATH_BYTES}"
    for name in _names(value):
        if not name.strip():
            return f"holds a blank name {name!r} between slashes; every file or folder name must be visible"
        size = len(name.encode("utf-8", "surrogatepass"))
        if size > MAX_NAME_BYTES:
            return f"holds a name of {size} bytes; each file or folder name must be at most {MAX_NAME_BYTES}"
    return None


def _names(value: str) -> list[str]:
    """The file and folder names of the path ``value``: what lies between slashes (a leading, trailing or double
    slash delimits nothing and is skipped, as the system reads it)."""
    return [name for name in value.split("/") if name]


def optional_path(value: str) -> str | None:
    """:func:`path`, or empty for "not set" (a key only one choice of another key reads)."""
    return None if value == "" else path(value)


def storage(value: str) -> str | None:
    """``none``, an RDB URL Optuna can open, or a journal file path whose folder exists.

    ``None``, ``NONE`` or `` none `` is refused rather than taken as a journal file of that name (which a
    later run would resume from).
    """
    if not value.strip():
        return "must be none, a journal file path or an RDB URL"
    if value == "none":
        return None
    if value.strip().lower() == "none":
        return "write none (lower case, no blanks) for no storage; a journal file of that name is not allowed"
    if "://" in value:
        return _rdb_url_problem(value)
    problem = path(value)
    if problem:
        return problem
    journal = Path(value)
    if journal.is_dir():
        return "is a folder; must be a journal file path (none, a file path or an RDB URL)"
    if not journal.parent.is_dir():
        return f"folder {str(journal.parent)!r} does not exist; must be a journal file path in an existing folder"
    return None


def _url_has_password(url: str) -> bool:
    """Whether the database URL ``url`` carries a password (``user:secret@host`` or ``?password=``).

    Read as SQLAlchemy -- which Optuna's RDBStorage uses -- reads it, so what is
    refused is exactly what the driver would have been given.
    """
    from urllib.parse import parse_qs, urlsplit

    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        password, query = parsed.password, {k.lower() for k in parsed.query}
    except Exception:  # no SQLAlchemy, or a URL it cannot parse (refused later, by _rdb_url_problem)
        parts = urlsplit(url)
        password, query = parts.password, {k.lower() for k in parse_qs(parts.query)}
    return bool(password) or "password" in query


def url_without_password(key: str) -> Callable[[str], str | None]:
    """A check of ``key``: an RDB URL must not carry a password, which DVC would record.

    The value of a param is written to ``dvc.lock`` and to the experiment's
    commit; a secret belongs in the environment, where the driver reads it
    itself (libpq, under psycopg2: ``PGPASSWORD`` or ``~/.pgpass``). The line
    names the key but never repeats the URL, so the secret is not echoed either.
    """

    def problem(value: str) -> str | None:
        if "://" in value and _url_has_password(value):
            raise ConfigError(
                f"params.yaml: {key}: the URL holds a password, which DVC would record in dvc.lock and the "
                "experiment's commit; remove it and give it in the environment (PostgreSQL: PGPASSWORD or ~/.pgpass)"
            )
        return None

    return problem
