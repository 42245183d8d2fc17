"""The sections of ``params.yaml``, one module per experiment family; :mod:`hyperlab.config.schema` lists them.

Every key has its default here (a key missing from ``params.yaml`` takes it)
and both bounds of every number. Names (strategies, optimizers, ...) come from
the name list of the library package that owns them.

``Literal[NAMES]`` over a tuple of names: typing flattens it at runtime (the
schema pydantic checks), but mypy only accepts literal values there, hence the
``type: ignore[valid-type]`` on those fields.
"""
