"""``figures``: rendering only (stages ``figures@<family>``, :mod:`hyperlab.plotting`)."""

from pydantic import Field

from hyperlab.config.fields import Int, Section


class FiguresParams(Section):
    """``figures``: rendering only (never reruns an experiment)."""

    dpi: Int = Field(120, ge=30, le=600)
    digits_per_class: Int = Field(8, ge=1, le=30)
