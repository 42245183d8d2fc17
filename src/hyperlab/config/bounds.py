"""Lower bounds shared by the sections, for keys that must be positive.

A value near 0 (1e-300) is valid for a "> 0" check but runs a different,
meaningless experiment (a learning rate of 1e-300 trains nothing and reports
the untrained net); each bound is where a key stops meaning what it says.
"""

#: Every step size: an Adam or SGD step under 1e-8 leaves float32 weights of order 1 unchanged (eps 1.2e-7).
LR_MIN = 1e-8
#: Std of the samples of h around ĥ: under 1e-4 they differ by less than a float32 hypernetwork fits, so it
#: learns one point, not a local best response.
SIGMA_MIN = 1e-4
#: Quantiles over the candidate networks: under 1 / 20000 (the largest space allowed) every one is the best net.
QUANTILE_MIN = 1e-4
