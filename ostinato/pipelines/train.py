"""`ostinato train-vae` and `ostinato train` on Ray Train: a ``TorchTrainer`` whose workers stream the
training set's Parquet shards through Ray Data and run ``ostinato.diffusion.train``'s optimizer steps.

Fault tolerance: rank 0 writes a checkpoint every ``run.checkpoint_every`` steps and reports it through
``ray.train.report`` (every worker reports: the call is a barrier); Ray keeps the latest
``run.keep_checkpoints``. When a worker dies, ``FailureConfig`` restarts the group and the workers resume from
the latest checkpoint (weights, EMA, optimizer, schedule, step, RNG). Launching again with the same ``--out``
(Ray Train's run name and storage path) resumes the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from ray.data.collate_fn import NumpyBatchCollateFn

from ostinato.diffusion.config import TrainConfig
from ostinato.errors import OstinatoError


@dataclass(frozen=True)
class TrainSummary:
    """What a finished training run left: its latest checkpoint folder and the last reported metrics."""

    checkpoint: Path | None
    metrics: dict[str, Any]


def run_training(
    cfg: TrainConfig,
    *,
    stage: str,
    data: str,
    out: str | Path,
    vae: str | Path | None = None,
    address: str | None = None,
    quiet: bool = False,
) -> TrainSummary:
    """Train ``stage`` ("vae" or "diffusion") on the training set ``data`` into the run folder ``out``.

    ``vae`` (a ``train-vae`` run folder or checkpoint) is required for the diffusion stage. Re-running with
    the same ``out`` resumes from its latest checkpoint; a run that already reached ``max_steps`` returns at once.
    """
    import ray.train
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from ostinato.datasets.loader import read_card
    from ostinato.diffusion.checkpoints import resolve_checkpoint
    from ostinato.diffusion.stages import trainset_metadata
    from ostinato.pipelines.analyze import connect

    if stage not in ("vae", "diffusion"):
        raise OstinatoError(f"unknown training stage {stage!r}; use 'vae' or 'diffusion'")
    vae_dir = None
    if stage == "diffusion":
        if vae is None:
            raise OstinatoError("ostinato train needs --vae: the run folder or checkpoint of ostinato train-vae")
        vae_dir = str(resolve_checkpoint(vae, stage="vae").path.resolve())
    card = read_card(str(data))
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    connect(address)
    loop_config = {
        "cfg": cfg.model_dump(mode="json"), "stage": stage, "vae_dir": vae_dir,
        "metadata": trainset_metadata(card, data=str(data)), "out": str(out), "quiet": quiet,
    }
    trainer = TorchTrainer(
        train_loop_per_worker=train_loop,
        train_loop_config=loop_config,
        scaling_config=ScalingConfig(
            num_workers=cfg.run.num_workers, use_gpu=cfg.run.use_gpu,
            resources_per_worker={"CPU": cfg.run.cpus_per_worker, **({"GPU": 1} if cfg.run.use_gpu else {})},
        ),
        run_config=RunConfig(
            name=out.name, storage_path=str(out.parent),
            failure_config=FailureConfig(max_failures=cfg.run.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=cfg.run.keep_checkpoints),
        ),
        datasets={"train": _train_split(str(data), card=card, cache_gb=cfg.run.cache_data_gb)},
    )
    try:
        result = trainer.fit()
    except ray.train.TrainingFailedError as exc:
        raise OstinatoError(f"training failed after {cfg.run.max_failures} restarts: {exc}") from None
    checkpoint = Path(result.checkpoint.path) if result.checkpoint is not None else None
    return TrainSummary(checkpoint=checkpoint, metrics=dict(result.metrics or {}))


class TensorBatches(NumpyBatchCollateFn):
    """Ray Data collate: numpy batches of the shards -> the model's tensors (``loader.to_tensors``)."""

    def __call__(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        from ostinato.datasets.loader import to_tensors

        return to_tensors(batch)


def _train_split(data: str, *, card, cache_gb: float):
    """The train split as a Ray Dataset, materialised in the object store when its mels fit in ``cache_gb``."""
    import ray.data

    from ostinato.datasets.loader import ray_dataset

    ray.data.DataContext.get_current().enable_progress_bars = False  # the trainer prints its own progress
    dataset = ray_dataset(data, "train")
    stats = card.splits.get("train")
    mel_gb = (stats.segments if stats else 0) * card.n_mels * card.n_frames * 2 / 1e9  # float16
    return dataset.materialize() if mel_gb <= cache_gb else dataset


def train_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: build the stage, resume from the latest checkpoint if any, train to max_steps."""
    import ray.train
    import ray.train.torch

    from ostinato.diffusion.checkpoints import load_trainer_state
    from ostinato.diffusion.stages import diffusion_task, vae_task
    from ostinato.diffusion.train import (
        EmaWeights,
        autocast_dtype,
        build_optimizer,
        micro_batches,
        optimizer_fingerprint,
        optimizer_step,
    )
    from ostinato.diffusion.vae import MelScaler

    cfg = TrainConfig.model_validate(config["cfg"])
    meta = config["metadata"]
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()
    torch.manual_seed(cfg.run.seed + 1000 * rank)  # same init on every rank is restored by DDP's broadcast
    scaler = MelScaler(mean=meta["mel_mean"], std=meta["mel_std"])
    if config["stage"] == "vae":
        task = vae_task(cfg, scaler=scaler, device=device)
    else:
        task = diffusion_task(
            cfg, vae_dir=Path(config["vae_dir"]), scaler=scaler, vocab_sizes=meta["vocab_sizes"],
            seconds_per_frame=meta["mel"]["hop_length"] / meta["mel"]["sample_rate"], device=device,
        )
    optim = task.optim
    model = task.objective
    ema = EmaWeights(model, decay=optim.ema_decay) if optim.ema_decay is not None else None
    optimizer, schedule = build_optimizer(model.parameters(), optim)
    step, resumed = 0, False
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = load_trainer_state(folder)
        step, resumed = _restore(state, model=model, ema=ema, optimizer=optimizer, schedule=schedule)
        torch.manual_seed(cfg.run.seed + 1000 * rank + step)  # fresh noise after a restart, not a replay
    wrapped = ray.train.torch.prepare_model(model, move_to_device=False) if world > 1 else model
    amp = autocast_dtype(optim, device=device)
    writer = _Console(config["out"], stage=task.stage, quiet=config["quiet"]) if rank == 0 else None
    if writer is not None and resumed:
        writer.event({"event": "resumed", "step": step,
                      "optimizer_fingerprint": optimizer_fingerprint(optimizer.state_dict())})
    batches = _forever(ray.train.get_dataset_shard("train"), batch_size=optim.batch_size, collate_fn=TensorBatches())
    window = _Window()
    last_args: tuple = ()
    while step < optim.max_steps:
        started = time.perf_counter()
        timed = _TimedIterator(batches)
        group = micro_batches(timed, count=optim.grad_accum, prepare=task.prepare)
        result = optimizer_step(
            wrapped, group, optimizer=optimizer, schedule=schedule, clip_norm=optim.clip_norm, autocast=amp,
            device=device,
        )
        if ema is not None:
            ema.update(model)
        step += 1
        last_args = group[-1]
        window.add(result, samples=optim.batch_size * optim.grad_accum * world,
                   seconds=time.perf_counter() - started, wait=timed.waited)
        due_checkpoint = step % cfg.run.checkpoint_every == 0 or step == optim.max_steps
        if step % cfg.run.log_every == 0 or due_checkpoint:
            metrics = {**window.metrics(), "step": step, "resumed": resumed, "workers": world}
            saved = None
            if due_checkpoint and rank == 0:
                saved = _save_checkpoint(
                    task, model=model, ema=ema, optimizer=optimizer, schedule=schedule, step=step,
                    last_args=last_args, meta=meta, cfg=cfg,
                )
            ray.train.report(metrics, checkpoint=saved, checkpoint_dir_name=f"checkpoint_{step:08d}"
                             if due_checkpoint else None)
            if saved is not None:
                shutil.rmtree(saved.path, ignore_errors=True)  # Ray Train has copied it into the run folder
            if writer is not None:
                writer.log(metrics, step=step)
            window = _Window()
        if cfg.run.fault_injection_step == step and not resumed and rank == 0:
            os._exit(1)  # testing: die like a preempted node, after the checkpoints written so far
    if writer is not None:
        writer.close()


def _restore(state, *, model, ema, optimizer, schedule) -> tuple[int, bool]:
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    if ema is not None and state.get("ema") is not None:
        ema.load_state_dict(state["ema"])
    return int(state["step"]), True


def _save_checkpoint(task, *, model, ema, optimizer, schedule, step: int, last_args: tuple, meta, cfg):
    from ray.train import Checkpoint

    from ostinato.diffusion.checkpoints import write_checkpoint

    folder = Path(tempfile.mkdtemp(prefix=f"ostinato-{task.stage}-{step:08d}-"))
    write_checkpoint(folder, task=task, model=model, ema=ema, optimizer=optimizer, schedule=schedule, step=step,
                     last_args=last_args, metadata={**meta, "config": cfg.model_dump(mode="json")})
    return Checkpoint.from_directory(str(folder))


def _forever(shard, *, batch_size: int, collate_fn) -> Iterator[dict[str, torch.Tensor]]:
    """Epoch after epoch of ``shard``'s batches (full batches only)."""
    while True:
        produced = False
        for batch in shard.iter_torch_batches(batch_size=batch_size, collate_fn=collate_fn, drop_last=True):
            produced = True
            yield batch
        if not produced:
            raise OstinatoError(
                f"a worker's share of the training set holds fewer than batch_size={batch_size} segments; "
                "lower training.batch_size or run.num_workers"
            )


class _TimedIterator:
    """Wraps an iterator and adds up the seconds spent waiting in ``next`` (the data-wait share)."""

    def __init__(self, source: Iterator) -> None:
        self.source, self.waited = source, 0.0

    def __iter__(self):
        return self

    def __next__(self):
        started = time.perf_counter()
        try:
            return next(self.source)
        finally:
            self.waited += time.perf_counter() - started


class _Window:
    """Metrics averaged over the steps since the last report."""

    def __init__(self) -> None:
        self.steps, self.samples, self.seconds, self.wait = 0, 0, 0.0, 0.0
        self.sums: dict[str, float] = {}
        self.lr = 0.0

    def add(self, result, *, samples: int, seconds: float, wait: float) -> None:
        self.steps += 1
        self.samples += samples
        self.seconds += seconds
        self.wait += wait
        self.lr = result.lr
        for name, value in {"loss": result.loss, "grad_norm": result.grad_norm, **result.terms}.items():
            self.sums[name] = self.sums.get(name, 0.0) + value

    def metrics(self) -> dict[str, float]:
        n = max(self.steps, 1)
        return {**{k: v / n for k, v in self.sums.items()}, "lr": self.lr,
                "samples_per_s": self.samples / max(self.seconds, 1e-9),
                "data_wait_share": self.wait / max(self.seconds, 1e-9)}


class _Console:
    """Rank 0's metric sink: a console line per report, TensorBoard scalars under RUN_DIR/tensorboard and one
    JSON line per report or event in RUN_DIR/metrics.jsonl (appended across restarts)."""

    def __init__(self, out: str, *, stage: str, quiet: bool) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.stage, self.quiet = stage, quiet
        self.tensorboard = SummaryWriter(log_dir=str(Path(out) / "tensorboard"))
        self.jsonl = Path(out) / "metrics.jsonl"

    def line(self, text: str) -> None:
        if not self.quiet:
            # Ray Train patches print() to both log and echo it (each line twice); the process's own stdout
            # reaches the driver console once.
            print(f"[{self.stage}] {text}", file=sys.__stdout__, flush=True)

    def event(self, record: dict[str, Any]) -> None:
        with self.jsonl.open("a") as handle:
            handle.write(json.dumps({"stage": self.stage, "time": time.time(), **record}) + "\n")
        if "event" in record:
            self.line(" ".join(f"{k}={v}" for k, v in record.items()))

    def log(self, metrics: dict[str, Any], *, step: int) -> None:
        self.event(metrics)
        for name, value in metrics.items():
            if isinstance(value, float):
                self.tensorboard.add_scalar(f"{self.stage}/{name}", value, step)
        self.tensorboard.flush()
        shown = "  ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, float))
        self.line(f"step {step}  {shown}")

    def close(self) -> None:
        self.tensorboard.close()
