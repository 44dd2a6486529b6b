from ._downhill import (
    Objective as Objective,
    Optimizer as Optimizer,
    __version__ as __version__,
    analyze as analyze,
    figures as figures,
    objective as objective,
    objectives as objectives,
    optimizers as optimizers,
    run as run,
    schedule as schedule,
    theory as theory,
)
from . import torch as torch
