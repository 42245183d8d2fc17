"""Figures. Used only by the ``figures`` stage: experiments write plot data, this draws it."""
