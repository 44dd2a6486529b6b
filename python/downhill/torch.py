"""downhill's optimizers for PyTorch models.

:class:`Optimizer` is a real ``torch.optim.Optimizer``: it updates CPU float32/float64 parameters
in place with downhill's Rust kernels, through zero-copy numpy views of the tensors (no copy of a
parameter or a gradient), one downhill optimizer per parameter, as PyTorch keeps one state per
parameter::

    import downhill.torch
    opt = downhill.torch.Optimizer(model.parameters(), "lion:lr=1e-4")
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=1000)
    for x, y in batches:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        sched.step()

- Hyperparameters use downhill's keys (``downhill.optimizers()``; ``betas=(b1, b2)`` is accepted for
  ``beta1``/``beta2``). The spec's keys and the keyword overrides become the defaults of every
  parameter group; a group may override any of them
  (``[{"params": weights, "weight_decay": 0.1}, {"params": biases, "weight_decay": 0}]``).
- Each group's ``lr`` is read at every step, so ``torch.optim.lr_scheduler`` works unchanged; any
  other key changed in a group takes effect at the next step (its state is carried over).
- ``state_dict()`` / ``load_state_dict()`` round-trip exactly (per parameter: ``step`` and the
  optimizer's buffers, e.g. Adam's ``m`` and ``v``, as tensors). The state lives in Rust between
  the two calls; ``self.state`` is filled only while a state dict is being made or loaded.
- Muon and Adafactor see each tensor's shape: a tensor with 2 or more dimensions is a weight
  matrix with ``fan_out = shape[0]`` and ``fan_in = numel // shape[0]`` (as PyTorch's Adafactor
  and the reference Muon see a 2-D weight), anything else a vector.
- A parameter on another device than the CPU, of a complex or low-precision dtype, with a sparse
  gradient or not contiguous in memory raises ``TypeError`` naming the parameter; nothing is
  copied or moved silently. Gradients are taken as they are (a non-contiguous gradient is made
  contiguous first, since it is only read). ``clip_norm`` would clip each tensor on its own and is
  refused: use ``torch.nn.utils.clip_grad_norm_``.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch

from . import _downhill

__all__ = ["Optimizer", "Lion", "ScheduleFreeAdamW", "Muon"]

# Optimizers that treat matrices and vectors differently (Block layouts in Rust).
_SHAPED = ("muon", "adafactor")
_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def _format(value: Any) -> str:
    """A hyperparameter as a spec value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return repr(float(value))
    return str(value)


def _translate(options: Dict[str, Any]) -> Dict[str, Any]:
    """PyTorch spellings to downhill keys: ``betas=(b1, b2)`` -> ``beta1``, ``beta2``."""
    out = dict(options)
    betas = out.pop("betas", None)
    if betas is not None:
        b1, b2 = betas
        out.setdefault("beta1", b1)
        out.setdefault("beta2", b2)
    return out


class Optimizer(torch.optim.Optimizer):
    """Any downhill optimizer as a ``torch.optim.Optimizer``.

    Args:
        params: an iterable of tensors or of parameter-group dicts, as for any PyTorch optimizer.
        spec: a downhill optimizer spec, ``"name:key=value,..."`` (``downhill.optimizers()`` lists
            the names and keys; defaults follow PyTorch).
        **overrides: more keys, e.g. ``lr=1e-3, weight_decay=0.1`` (``betas`` is accepted).

    The update of every parameter is the Rust kernel of ``downhill run --optimizer spec``; for the
    optimizers PyTorch also has, the trajectories agree with ``torch.optim`` to rounding (tested
    in float64 to 1e-9 after 60 steps of a small MLP).
    """

    def __init__(self, params: Iterable[Any], spec: str = "adam", **overrides: Any) -> None:
        name, entries = _downhill.parse_optimizer_spec(spec)
        given: Dict[str, Any] = dict(entries)
        given.update(_translate(overrides))
        if "clip_norm" in given:
            raise ValueError(
                "clip_norm: downhill.torch steps each tensor separately, so it would clip each tensor's "
                "norm; clip the global norm with torch.nn.utils.clip_grad_norm_ before step()"
            )
        probe = _downhill.Optimizer(self._compose(name, given), np.zeros(1))
        defaults = dict(probe.hyperparameters)
        if not isinstance(defaults.get("lr"), (int, float)):
            raise ValueError("lr: downhill.torch takes a number; schedule it with torch.optim.lr_scheduler")
        self.spec_name: str = name
        # A group's spec passes the keys whose values differ from the registry's defaults.
        self._base = dict(_downhill.Optimizer(name, np.zeros(1)).hyperparameters)
        self._hyper_keys = [k for k in defaults if k != "lr"]
        # Per parameter: (its downhill optimizer, the group values it was built with, rate factor).
        self._engines: Dict[torch.Tensor, Tuple[Any, tuple, float]] = {}
        super().__init__(params, defaults)

    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        """Adds a group; its keys are downhill's (``betas`` is accepted), checked here."""
        group = _translate(param_group) if isinstance(param_group, dict) else param_group
        if isinstance(group, dict):
            accepted = set(self.defaults) | {"params", "param_names", "initial_lr"}
            unknown = sorted(k for k in group if k not in accepted)
            if unknown:
                raise ValueError(
                    f"param_groups: unknown key '{unknown[0]}' for {self.spec_name}; "
                    f"accepted: {', '.join(sorted(self.defaults))}"
                )
        super().add_param_group(group)

    @staticmethod
    def _compose(name: str, options: Dict[str, Any]) -> str:
        parts = [f"{k}={_format(v)}" for k, v in options.items()]
        return name + (":" + ",".join(parts) if parts else "")

    def _group_spec(self, group: Dict[str, Any], factor: float = 1.0) -> str:
        # The rate is set before every step (a scheduler may have set it to 0, which a spec refuses).
        options = {"lr": self.defaults["lr"]}
        missing = object()
        for k in self._hyper_keys:
            if group[k] != self._base.get(k, missing):
                options[k] = group[k]
        if factor != 1.0 and options.get("weight_decay", 0):
            options["weight_decay"] = options["weight_decay"] / factor
        return self._compose(self.spec_name, options)

    def _signature(self, group: Dict[str, Any]) -> tuple:
        return tuple(group[k] for k in self._hyper_keys)

    @staticmethod
    def _label(group_index: int, index: int, group: Dict[str, Any], p: torch.Tensor) -> str:
        names = group.get("param_names")
        where = f"param_groups[{group_index}]['params'][{index}]"
        if names is not None and index < len(names):
            where = f"'{names[index]}' ({where})"
        return f"parameter {where} of shape {tuple(p.shape)}"

    def _check(self, label: str, p: torch.Tensor) -> None:
        if p.device.type != "cpu":
            raise TypeError(
                f"{label} is on {p.device}; downhill.torch updates CPU tensors in place and does not move "
                "them (train on the CPU, or use a torch.optim optimizer on this device)"
            )
        if p.is_sparse:
            raise TypeError(f"{label} is sparse; downhill.torch updates dense tensors")
        if p.is_complex():
            raise TypeError(f"{label} is complex ({p.dtype}); downhill optimizes real float32/float64 tensors")
        if p.dtype not in _DTYPES:
            raise TypeError(f"{label} has dtype {p.dtype}; downhill.torch takes float32 or float64")
        if not p.is_contiguous():
            raise TypeError(f"{label} is not contiguous in memory; make it contiguous before creating the optimizer")

    def _layout(self, p: torch.Tensor) -> Optional[List[Any]]:
        """The tensor as a downhill block. downhill stores a ``(fan_out, fan_in)`` weight matrix
        transposed (``fan_in`` rows of ``fan_out``), so PyTorch's row-major ``(out, in)`` memory is
        the block of shape ``(in, out)``: the same numbers, seen the same way."""
        if self.spec_name not in _SHAPED:
            return None
        if p.dim() >= 2 and p.numel() > 0:
            out = p.shape[0]
            return [(p.numel() // out, out)]
        return [p.numel()]

    def _rate_factor(self, p: torch.Tensor) -> float:
        """Muon scales a matrix's update by ``sqrt(max(1, fan_out / fan_in))`` of its block, which
        for the ``(in, out)`` block of :meth:`_layout` is ``sqrt(max(1, in / out))``; the reference
        scales by ``sqrt(max(1, out / in))``. The ratio of the two is ``sqrt(out / in)``: the step
        runs at ``lr * sqrt(out / in)`` with the weight decay divided by it (``lr * wd`` unchanged)."""
        if self.spec_name != "muon" or p.dim() < 2 or p.numel() == 0:
            return 1.0
        out = p.shape[0]
        return (out / (p.numel() // out)) ** 0.5

    def _engine(self, p: torch.Tensor, group: Dict[str, Any], gi: int, pi: int, signature: tuple) -> Any:
        held = self._engines.get(p)
        if held is not None and held[1] == signature:
            return held[0]
        self._check(self._label(gi, pi, group, p), p)
        factor = self._rate_factor(p)
        spec = self._group_spec(group, factor)
        engine = _downhill.Optimizer(spec, p.detach().numpy(), layout=self._layout(p))
        if held is not None:
            # The group's hyperparameters changed: keep the state, as torch.optim does.
            engine.load_state_dict(held[0].state_dict())
        self._engines[p] = (engine, signature, factor)
        return engine

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for gi, group in enumerate(self.param_groups):
            signature = self._signature(group)
            lr = float(group["lr"])
            for pi, p in enumerate(group["params"]):
                grad = p.grad
                if grad is None or p.numel() == 0:
                    continue
                engine = self._engine(p, group, gi, pi, signature)
                rate = lr * self._engines[p][2]
                if engine.lr != rate:
                    engine.lr = rate
                if grad.is_sparse or grad.layout != torch.strided:
                    raise TypeError(f"{self._label(gi, pi, group, p)} has a sparse gradient; downhill.torch takes dense ones")
                if not grad.is_contiguous():
                    grad = grad.contiguous()
                try:
                    engine.step(p.detach().numpy(), grad.numpy())
                except (TypeError, ValueError, RuntimeError) as e:
                    self._check(self._label(gi, pi, group, p), p)
                    raise type(e)(f"{self._label(gi, pi, group, p)}: {e}") from e
        return loss

    def _fill_state(self) -> None:
        """Copies every engine's state into ``self.state`` as tensors shaped like the parameter."""
        for group in self.param_groups:
            for p in group["params"]:
                held = self._engines.get(p)
                if held is None:
                    continue
                saved = held[0].state_dict()
                entry: Dict[str, Any] = {"step": int(saved["step"])}
                for key, buf in saved["buffers"].items():
                    t = torch.from_numpy(buf)
                    entry[key] = t.reshape(p.shape) if t.numel() == p.numel() else t
                self.state[p] = entry

    def state_dict(self) -> Dict[str, Any]:  # type: ignore[override]
        """PyTorch's format: ``{"state": {index: {"step": int, buffer: tensor}}, "param_groups": [...]}``."""
        self._fill_state()
        try:
            return super().state_dict()
        finally:
            self.state.clear()

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:  # type: ignore[override]
        """Loads a state dict from :meth:`state_dict`; the run then continues bit for bit."""
        super().load_state_dict(state_dict)
        try:
            self._engines = {}
            for gi, group in enumerate(self.param_groups):
                signature = self._signature(group)
                for pi, p in enumerate(group["params"]):
                    saved = self.state.get(p)
                    if not saved:
                        continue
                    engine = self._engine(p, group, gi, pi, signature)
                    buffers = {
                        k: v.detach().to(p.dtype).reshape(-1).contiguous().numpy()
                        for k, v in saved.items()
                        if k != "step" and isinstance(v, torch.Tensor)
                    }
                    step = saved["step"]
                    step = int(step.item()) if isinstance(step, torch.Tensor) else int(step)
                    try:
                        engine.load_state_dict({"optimizer": engine.name, "step": step, "buffers": buffers})
                    except ValueError as e:
                        raise ValueError(f"{self._label(gi, pi, group, p)}: {e}") from e
        finally:
            self.state.clear()

    def __repr__(self) -> str:
        return f"downhill.torch.Optimizer('{self.spec_name}', groups={len(self.param_groups)})"


class Lion(Optimizer):
    """Lion (Chen et al. 2023), which PyTorch lacks: ``theta *= 1 - lr*wd;
    theta -= lr*sign(beta1*m + (1-beta1)*g); m = beta2*m + (1-beta2)*g``."""

    def __init__(self, params, lr: float = 1e-4, betas: Tuple[float, float] = (0.9, 0.99), weight_decay: float = 0.0):
        super().__init__(params, "lion", lr=lr, betas=betas, weight_decay=weight_decay)


class Muon(Optimizer):
    """Muon (Jordan et al. 2024): Nesterov momentum orthogonalized by Newton-Schulz iterations for
    each weight matrix; vectors (biases, norms) get AdamW at ``lr * adam_lr_ratio``."""

    def __init__(self, params, lr: float = 0.02, momentum: float = 0.95, weight_decay: float = 0.0, **overrides: Any):
        super().__init__(params, "muon", lr=lr, momentum=momentum, weight_decay=weight_decay, **overrides)


class ScheduleFreeAdamW(Optimizer):
    """Schedule-Free AdamW (Defazio et al. 2024), as the authors' ``AdamWScheduleFree``.

    The parameters hold ``y``, where gradients are taken. Call :meth:`eval` before evaluating or
    saving the model (it swaps in the average ``x``) and :meth:`train` before training again.

    Known limit: the averaging weights depend on the largest rate so far and their running sum,
    which downhill recomputes from the rate rather than saving; after ``load_state_dict`` they are
    recomputed as if the current ``lr`` had been used from the start. That is exact for a constant
    rate, not across a warmup still in progress or finished before the save.
    """

    def __init__(
        self,
        params,
        lr: float = 2.5e-3,
        betas: Tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        **overrides: Any,
    ):
        super().__init__(params, "sf-adamw", lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, **overrides)
        self._train_params: Optional[Dict[torch.Tensor, np.ndarray]] = None

    @torch.no_grad()
    def eval(self) -> None:
        """Sets every parameter to the average ``x`` (keeping ``y`` to restore in :meth:`train`)."""
        if self._train_params is not None:
            return
        self._train_params = {}
        for p, (engine, _, _) in self._engines.items():
            view = p.detach().numpy()
            x = engine.eval_params(view.reshape(-1))
            if x is not None:
                self._train_params[p] = view.copy()
                view.reshape(-1)[:] = x

    @torch.no_grad()
    def train(self) -> None:
        """Restores the training point ``y`` after :meth:`eval`."""
        if self._train_params is None:
            return
        for p, y in self._train_params.items():
            p.detach().numpy()[...] = y
        self._train_params = None

    def step(self, closure=None):  # type: ignore[override]
        if self._train_params is not None:
            raise RuntimeError("ScheduleFreeAdamW.step() in eval mode: call optimizer.train() first")
        return super().step(closure)
