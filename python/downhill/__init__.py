"""downhill: exact gradient-based optimizers, schedules and objectives, from Rust.

A thin layer over the Rust library ``downhill``: every number is computed by the same code as the
``downhill`` command line, and every document has the keys and values its ``--format json`` prints.

>>> import downhill
>>> run = downhill.run("quadratic:a=50,b=1", "adam:lr=0.1", start=[1, 1], steps=100)
>>> run["stop"], len(run["trajectory"])
('max_steps', 101)

- :func:`run` runs an optimizer on an objective (as ``downhill run --format json``).
- :class:`Optimizer` updates a numpy array in place with downhill's single-pass kernels.
- :func:`schedule`, :func:`objective`, :func:`analyze`, :func:`theory`, :func:`figures`,
  :func:`optimizers`, :func:`objectives`.
- ``downhill.torch``: a ``torch.optim.Optimizer`` running downhill's kernels on CPU tensors.

A bad spec raises ``ValueError`` with the message the command line prints after ``error: --``.
"""

from ._downhill import (
    Objective,
    Optimizer,
    __version__,
    analyze,
    figures,
    objective,
    objectives,
    optimizers,
    run,
    schedule,
    theory,
)

__all__ = [
    "Objective",
    "Optimizer",
    "__version__",
    "analyze",
    "figures",
    "objective",
    "objectives",
    "optimizers",
    "run",
    "schedule",
    "theory",
]


def __getattr__(name):
    # `downhill.torch` on first use, so that importing downhill does not need PyTorch.
    if name == "torch":
        import importlib

        return importlib.import_module(".torch", __name__)
    if name == "bench":
        import importlib

        return importlib.import_module(".bench", __name__)
    raise AttributeError(f"module 'downhill' has no attribute {name!r}")
