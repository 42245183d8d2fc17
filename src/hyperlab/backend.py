"""The accelerator policy of a stage process: one place sets what JAX may do differently on a GPU.

Results must not move with the hardware they run on, beyond float level:

- **Matrix products in full float32** (``jax_default_matmul_precision = "highest"``). On an
  NVIDIA GPU since Ampere, XLA's default for a float32 matmul is TF32 (10 mantissa bits), which
  moves training losses in the third digit and could move a hypergradient check or a verdict.
  On the CPU, "highest" is what XLA does anyway: the committed results are unchanged by it.
- **No preallocation of GPU memory** (``XLA_PYTHON_CLIENT_PREALLOCATE=false`` unless the user set
  it): JAX takes 75 % of a GPU's memory at start-up, so two queued experiments (``dvc queue start
  -j 2``) or a stage beside a worker would fail on one device.
- **Inference latency is timed on the CPU**, whatever the default device
  (:data:`hyperlab.training.timing.TIMING_PLATFORM`): on a GPU the small MLPs of the search
  space are launch-bound and all take about the same time, so the latency-aware searches would
  lose their signal.

:func:`configure` sets both through JAX's environment variables, as
:func:`hyperlab.compile_cache.enable` does, so a stage that never uses JAX does not pay for
importing it, and the processes a stage starts (workers) inherit the policy. :func:`describe`
names the backend a stage ran on; :func:`hyperlab.cli.run_stage` logs it.
"""

from __future__ import annotations

import os
import sys

#: XLA's precision for float32 matrix products: "highest" = true float32, never TF32 or bfloat16 passes.
MATMUL_PRECISION = "highest"
PRECISION_ENV = "JAX_DEFAULT_MATMUL_PRECISION"
PREALLOCATE_ENV = "XLA_PYTHON_CLIENT_PREALLOCATE"


def configure() -> None:
    """Apply the policy above to this process and the ones it starts (idempotent).

    The precision is the project's, not the user's (a verdict must not move with it); preallocation
    stays the user's choice when set. Before JAX starts a backend: the allocator reads its variable then.
    """
    os.environ[PRECISION_ENV] = MATMUL_PRECISION
    os.environ.setdefault(PREALLOCATE_ENV, "false")
    if "jax" in sys.modules:
        import jax

        jax.config.update("jax_default_matmul_precision", MATMUL_PRECISION)


def describe() -> str:
    """The default backend and its devices, e.g. ``cpu (1 device: TFRT_CPU_0)``."""
    import jax

    devices = jax.devices()
    names = ", ".join(str(d) for d in devices)
    return f"{jax.default_backend()} ({len(devices)} device{'s' if len(devices) != 1 else ''}: {names})"
