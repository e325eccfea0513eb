"""Training compute that knows nothing of Ray: one optimizer step with accumulation and clipping, the warm-up
schedule, EMA weights and the autocast choice. ``ostinato.pipelines.train`` runs it on Ray Train workers."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ostinato.diffusion.config import OptimConfig


def autocast_dtype(cfg: OptimConfig, *, device: torch.device) -> torch.dtype | None:
    """bf16 when asked for, or on "auto" when training on a GPU; None (full fp32) otherwise."""
    if cfg.mixed_precision == "bf16" or (cfg.mixed_precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def build_optimizer(parameters, cfg: OptimConfig) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW and a linear warm-up over ``cfg.warmup_steps`` optimizer steps, constant afterwards."""
    optimizer = torch.optim.AdamW([p for p in parameters if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup = max(cfg.warmup_steps, 1)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
    return optimizer, schedule


class EmaWeights:
    """Exponential moving average of a module's floating-point parameters and buffers.

    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` so early averages do not remember the random
    initialisation for thousands of steps.
    """

    def __init__(self, module: torch.nn.Module, *, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.shadow = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        live = module.state_dict()
        for name, value in self.shadow.state_dict().items():
            if value.dtype.is_floating_point:
                value.lerp_(live[name].to(value.dtype), 1 - decay)
            else:
                value.copy_(live[name])

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates, "shadow": self.shadow.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay, self.updates = state["decay"], state["updates"]
        self.shadow.load_state_dict(state["shadow"])


@dataclass(frozen=True)
class StepResult:
    """One optimizer step: mean loss over its micro-batches, its other terms, gradient norm before clipping, lr."""

    loss: float
    terms: dict[str, float]
    grad_norm: float
    lr: float


def optimizer_step(
    objective: torch.nn.Module,
    micro_batches: Sequence[tuple],
    *,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    clip_norm: float | None,
    autocast: torch.dtype | None,
    device: torch.device,
) -> StepResult:
    """Accumulate gradients of ``objective(*args)["loss"]`` over ``micro_batches`` (argument tuples), clip,
    step the optimizer and the schedule. ``objective`` may be DDP-wrapped: gradients are synchronised only on
    the last micro-batch."""
    optimizer.zero_grad(set_to_none=True)
    totals: dict[str, float] = {}
    for i, args in enumerate(micro_batches):
        last = i == len(micro_batches) - 1
        sync = contextlib.nullcontext() if last or not hasattr(objective, "no_sync") else objective.no_sync()
        amp = (torch.autocast(device_type=device.type, dtype=autocast) if autocast is not None
               else contextlib.nullcontext())
        with sync, amp:
            out = objective(*args)
            (out["loss"] / len(micro_batches)).backward()
        for name, value in out.items():
            totals[name] = totals.get(name, 0.0) + float(value.detach()) / len(micro_batches)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if clip_norm is not None:
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip_norm))
    else:
        grad_norm = float(torch.linalg.vector_norm(
            torch.stack([p.grad.detach().norm() for p in params if p.grad is not None])
        ))
    lr = optimizer.param_groups[0]["lr"]
    optimizer.step()
    schedule.step()
    loss = totals.pop("loss")
    return StepResult(loss=loss, terms=totals, grad_norm=grad_norm, lr=lr)


def micro_batches(batches: Iterator[Any], *, count: int, prepare: Callable[[Any], tuple]) -> list[tuple] | None:
    """The next ``count`` batches of ``batches`` passed through ``prepare``; None when the iterator is exhausted
    before ``count`` (a partial accumulation is dropped so every step sees the same number of samples)."""
    out = []
    for batch in batches:
        out.append(prepare(batch))
        if len(out) == count:
            return out
    return None


def optimizer_fingerprint(state: dict[str, Any]) -> float:
    """One number summarising an optimizer ``state_dict`` (sum of every moment tensor and step count), to check
    that a resumed run continues with the optimizer state it saved."""
    total = 0.0
    for entry in state["state"].values():
        for value in entry.values():
            total += float(value.double().sum()) if isinstance(value, torch.Tensor) else float(value)
    return total


def fit_plain(
    task,
    batches: Iterator[dict[str, torch.Tensor]],
    *,
    steps: int,
    device: torch.device | None = None,
    ema: EmaWeights | None = None,
) -> tuple[list[StepResult], dict[str, Any]]:
    """Train a ``TrainingTask`` in this process for ``steps`` optimizer steps over ``batches`` (an endless
    iterator of loader batches): the single-process loop, without Ray. Returns the step results and what
    ``checkpoints.write_checkpoint`` needs (model, ema, optimizer, schedule, step, last_args)."""
    device = device or torch.device("cpu")
    optimizer, schedule = build_optimizer(task.objective.parameters(), task.optim)
    if ema is None and task.optim.ema_decay is not None:
        ema = EmaWeights(task.objective, decay=task.optim.ema_decay)
    amp = autocast_dtype(task.optim, device=device)
    results, group = [], []
    for _ in range(steps):
        group = micro_batches(batches, count=task.optim.grad_accum, prepare=task.prepare)
        if group is None:
            break
        results.append(optimizer_step(task.objective, group, optimizer=optimizer, schedule=schedule,
                                      clip_norm=task.optim.clip_norm, autocast=amp, device=device))
        if ema is not None:
            ema.update(task.objective)
    state = {"model": task.objective, "ema": ema, "optimizer": optimizer, "schedule": schedule,
             "step": len(results), "last_args": group[-1] if group else ()}
    return results, state
