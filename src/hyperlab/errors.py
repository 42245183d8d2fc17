"""The errors a stage reports as one line (``error: ...``, exit status 2) instead of a traceback.

A base module: the library raises these without importing the command-line
glue (``hyperlab.cli``) or the params schema (``hyperlab.config``, whose
:class:`~hyperlab.config.ConfigError` is the third such error).
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input other than params (a file that is missing, corrupt or of the wrong shape)."""


class OutputError(OSError):
    """An output could not be written (read-only folder, full disk); stated in one line."""
