"""Type stubs of the Rust extension module (re-exported by ``downhill``)."""

from os import PathLike
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, TypedDict, Union

import numpy as np
import numpy.typing as npt

__version__: str

FloatArray = Union[npt.NDArray[np.float32], npt.NDArray[np.float64]]
LayoutBlock = Union[int, Tuple[int, int]]

class OptimizerStateDict(TypedDict):
    optimizer: str
    step: int
    buffers: Dict[str, FloatArray]

class Optimizer:
    """An optimizer with explicit state that updates numpy arrays in place.

    ``Optimizer(spec, params, layout=None, schedule=None)``: ``spec`` as on the command line
    (``"adam:lr=0.1"``, see :func:`optimizers`); ``params``, a float32 or float64 array, fixes the
    size and the dtype (its values are not read). ``layout`` tells Muon and Adafactor how the flat
    vector splits into weight matrices ``(rows, cols)`` and vectors (an int length). ``schedule``
    replaces the spec's ``lr`` with a schedule spec (``"warmup-cosine:max=1e-3,warmup=100,total=1000"``).

    Raises ``ValueError`` for a bad spec (the command line's message) and ``TypeError`` for an
    array that is not float32/float64.
    """

    def __init__(
        self,
        spec: str,
        params: FloatArray,
        layout: Optional[Sequence[LayoutBlock]] = None,
        schedule: Optional[str] = None,
    ) -> None: ...
    def step(self, params: FloatArray, grads: FloatArray) -> None:
        """One update of ``params`` in place from the gradient ``grads`` at ``params``.

        Both must have the optimizer's dtype and size and be C-contiguous (``TypeError`` /
        ``ValueError`` naming the argument otherwise). No copy is made; the GIL is released for
        large arrays.
        """
    @property
    def lr(self) -> float:
        """The learning rate of the next update; setting it replaces the rate from then on."""
    @lr.setter
    def lr(self, value: float) -> None: ...
    @property
    def name(self) -> str:
        """Registry name, e.g. ``"adam"``."""
    @property
    def steps(self) -> int:
        """Updates applied so far."""
    @property
    def dtype(self) -> Literal["float32", "float64"]: ...
    @property
    def size(self) -> int:
        """Number of parameters."""
    @property
    def hyperparameters(self) -> Dict[str, Any]:
        """Every resolved hyperparameter, in the optimizer's order (as ``downhill run`` reports them)."""
    def state_dict(self) -> OptimizerStateDict:
        """Copies of the state: ``{"optimizer", "step", "buffers": {name: array}}``."""
    def load_state_dict(self, state: OptimizerStateDict) -> None:
        """Replaces the state (checked for name, buffers, dtype and sizes); the run continues bit for bit."""
    def eval_params(self, params: FloatArray) -> Optional[FloatArray]:
        """The parameters to evaluate when they differ from ``params`` (Schedule-Free AdamW's ``x``)."""
    def reset(self) -> None:
        """Forgets all state."""

class Objective:
    """An objective with exact derivatives (automatic differentiation for formulas), in float64."""

    def value(self, x: Sequence[float]) -> float:
        """``f(x)``."""
    def gradient(self, x: Sequence[float]) -> npt.NDArray[np.float64]:
        """The exact gradient at ``x``."""
    def hessian(self, x: Sequence[float]) -> npt.NDArray[np.float64]:
        """The exact Hessian at ``x``, shape ``(dim, dim)``."""
    @property
    def dim(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def formula(self) -> str: ...
    @property
    def minima(self) -> List[Dict[str, Any]]:
        """Known minima: ``[{"point": [...], "value": f}]``."""
    @property
    def default_start(self) -> Optional[List[float]]: ...
    @property
    def domain(self) -> Optional[List[float]]:
        """Plotting box ``[xmin, xmax, ymin, ymax]`` of a 2-D objective."""

def run(
    objective: Optional[str] = None,
    optimizer: str = "gd",
    start: Optional[Sequence[float]] = None,
    steps: int = 1000,
    schedule: Optional[str] = None,
    bound: Optional[float] = None,
    tol: Optional[float] = None,
    loss_tol: Optional[float] = None,
    dtype: Literal["f32", "f64", "float32", "float64"] = "f64",
    expr: Optional[str] = None,
    vars: Optional[Sequence[str]] = None,
    loss_bound: Optional[float] = None,
    every: Optional[int] = None,
) -> Dict[str, Any]:
    """Runs ``optimizer`` on ``objective`` (a spec) or ``expr`` (a formula) and returns the
    document of ``downhill run --format json``: ``objective``, ``optimizer``, ``dtype``, ``start``,
    ``stop``, ``detail``, ``steps``, ``params``, ``loss``, ``grad_norm``, ``distance_to_minimum``
    and ``trajectory`` (``[{step, params, loss, lr}]`` from step 0). The GIL is released during
    the run. ``start`` defaults to the objective's usual start.
    """

def schedule(spec: str, steps: int) -> npt.NDArray[np.float64]:
    """The learning rate at steps ``0 .. steps-1`` (as ``downhill schedule``)."""

def objective(spec: Optional[str] = None, expr: Optional[str] = None, vars: Optional[Sequence[str]] = None) -> Objective:
    """A built-in objective from a spec (``"rosenbrock:a=1,b=10"``) or a formula (``expr``)."""

def analyze(
    objective: Optional[str] = None,
    at: Optional[Sequence[float]] = None,
    box: Optional[Sequence[float]] = None,
    grid: int = 41,
    expr: Optional[str] = None,
    vars: Optional[Sequence[str]] = None,
) -> Dict[str, Any]:
    """The document of ``downhill analyze --format json``: Hessian, eigenvalues, condition number,
    step sizes at ``at``; for 2-D objectives L, mu and the critical points in ``box``."""

def theory(check: Union[None, str, Sequence[str]] = None) -> List[Dict[str, Any]]:
    """The theory lab's checks (all, one id or several): ``id``, ``claim``, ``source``,
    ``verdict``, ``predicted``, ``measured``, ``details``."""

def figures(out_dir: Union[str, PathLike]) -> Dict[str, Any]:
    """Writes the seed article's three figures into ``out_dir`` (``.png``, ``.svg``, ``.json``);
    returns ``{"files": [...], "notes": {figure: [...]}}``."""

def optimizers() -> List[Dict[str, Any]]:
    """Every optimizer: ``name``, ``aliases``, ``keys`` (with defaults)."""

def objectives() -> List[Dict[str, Any]]:
    """Every built-in objective: ``name``, ``keys``, ``description``, ``formula``, ``dim``,
    ``domain``, ``minima``."""

def parse_optimizer_spec(spec: str) -> Tuple[str, List[Tuple[str, str]]]:
    """``"adam:lr=0.1"`` -> ``("adam", [("lr", "0.1")])``, with aliases resolved."""
