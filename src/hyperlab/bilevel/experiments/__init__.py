"""The toy experiments the ``bilevel``, ``drmad`` and ``hypernet`` stages run, on top of the hypergradient library.

One module per stage (:mod:`.order`, :mod:`.drmad`, :mod:`.hypernet`) and the
summaries they share (:mod:`.summary`). The library (:mod:`hyperlab.bilevel`)
never imports them; nor does any other package.
"""
