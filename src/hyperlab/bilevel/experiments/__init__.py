"""The toy experiments the ``bilevel``, ``drmad`` and ``hypernet`` stages run, on top of the hypergradient library.

One module per stage (:mod:`.order_experiment`, :mod:`.drmad_experiment`, :mod:`.hypernet_experiment`) and the
convergence summaries they share (:mod:`.convergence`). The library (:mod:`hyperlab.bilevel`)
never imports them; nor does any other package.
"""
