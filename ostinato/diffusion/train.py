"""Training compute that knows nothing of Ray: one optimizer step with accumulation and clipping, the learning-rate
schedule and EMA weights (diffusers' ``get_scheduler`` and ``EMAModel``) and the autocast choice.
``ostinato.pipelines.train`` runs it on Ray Train workers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from torch.optim.lr_scheduler import LambdaLR

from ostinato.diffusion.config import OptimConfig


def autocast_dtype(cfg: OptimConfig, *, device: torch.device) -> torch.dtype | None:
    """bf16 when asked for, or on "auto" when training on a GPU; None (full fp32) otherwise."""
    if cfg.mixed_precision == "bf16" or (cfg.mixed_precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def build_optimizer(parameters, cfg: OptimConfig) -> tuple[torch.optim.Optimizer, LambdaLR]:
    """AdamW and the learning-rate schedule ``cfg.lr_schedule`` of ``diffusers.optimization.get_scheduler``:
    a linear warm-up over ``cfg.warmup_steps`` optimizer steps from 0, then constant (or a cosine or linear
    decay to 0 at ``cfg.max_steps``). Step the schedule once per optimizer step."""
    optimizer = torch.optim.AdamW([p for p in parameters if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = get_scheduler(cfg.lr_schedule, optimizer, num_warmup_steps=cfg.warmup_steps,
                             num_training_steps=cfg.max_steps)
    return optimizer, schedule


def build_ema(module: torch.nn.Module, cfg: OptimConfig) -> EMAModel | None:
    """``diffusers.training_utils.EMAModel`` over ``module``'s parameters with decay ``cfg.ema_decay``, warmed up
    as ``min(decay, (1 + n) / (10 + n))`` at update n + 1 (the first update copies the weights) so early averages
    forget the random initialisation; None when ``cfg.ema_decay`` is null. Call ``ema.step(module.parameters())``
    after each optimizer step."""
    if cfg.ema_decay is None:
        return None
    return EMAModel(module.parameters(), decay=cfg.ema_decay)


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
    ema: EMAModel | None = None,
) -> tuple[list[StepResult], dict[str, Any]]:
    """Train a ``TrainingTask`` in this process for ``steps`` optimizer steps over ``batches`` (an endless
    iterator of loader batches): the single-process loop, without Ray. Returns the step results and what
    ``checkpoints.write_checkpoint`` needs (model, ema, optimizer, schedule, step, last_args)."""
    device = device or torch.device("cpu")
    optimizer, schedule = build_optimizer(task.objective.parameters(), task.optim)
    if ema is None:
        ema = build_ema(task.objective, task.optim)
    amp = autocast_dtype(task.optim, device=device)
    results, group = [], []
    for _ in range(steps):
        group = micro_batches(batches, count=task.optim.grad_accum, prepare=task.prepare)
        if group is None:
            break
        results.append(optimizer_step(task.objective, group, optimizer=optimizer, schedule=schedule,
                                      clip_norm=task.optim.clip_norm, autocast=amp, device=device))
        if ema is not None:
            ema.step(task.objective.parameters())
    state = {"model": task.objective, "ema": ema, "optimizer": optimizer, "schedule": schedule,
             "step": len(results), "last_args": group[-1] if group else ()}
    return results, state
