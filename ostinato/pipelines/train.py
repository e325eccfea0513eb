"""`ostinato train-vae` and `ostinato train` on Ray Train: a ``TorchTrainer`` whose workers stream the
training set's Parquet shards through Ray Data and run ``ostinato.diffusion.train``'s optimizer steps.

Fault tolerance: rank 0 writes a checkpoint every ``run.checkpoint_every`` steps and reports it through
``ray.train.report`` (every worker reports: the call is a barrier); Ray keeps the latest
``run.keep_checkpoints``. When a worker dies, ``FailureConfig`` restarts the group and the workers resume from
the latest checkpoint (weights, EMA, optimizer, schedule, step, every rank's RNG states). Launching again with
the same RUN folder (Ray Train's run name and storage path) resumes the same way.

Console: rank 0 appends one JSON line per report to ``RUN_DIR/metrics.jsonl``; the driver follows that file and
prints one line per report. Workers print nothing, so at the default verbosity Ray runs with ``log_to_driver``
off and Ray Data / Ray Train log at WARNING; ``verbose`` forwards worker output and their INFO logs.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from ray.data.collate_fn import NumpyBatchCollateFn

from ostinato.diffusion.config import TrainConfig
from ostinato.errors import OstinatoError
from ostinato.pipelines.driver import connect


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
    verbose: bool = False,
) -> TrainSummary:
    """Train ``stage`` ("vae" or "diffusion") on the training set ``data`` into the run folder ``out``.

    ``vae`` (a ``train-vae`` run folder or checkpoint) is required for the diffusion stage. Re-running with
    the same ``out`` resumes from its latest checkpoint; a run that already reached ``max_steps`` returns at once.
    ``quiet``: no console lines; ``verbose``: Ray's worker output and Ray Data / Ray Train INFO logs as well.
    """
    import ray.train
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from ostinato.datasets.loader import read_card
    from ostinato.diffusion.checkpoints import resolve_checkpoint
    from ostinato.diffusion.config import shape_problems
    from ostinato.diffusion.stages import trainset_metadata

    if stage not in ("vae", "diffusion"):
        raise OstinatoError(f"unknown training stage {stage!r}; use 'vae' or 'diffusion'")
    vae_dir = None
    if stage == "diffusion":
        if vae is None:
            raise OstinatoError("ostinato train needs VAE: the run folder or checkpoint of ostinato train-vae")
        vae_dir = str(resolve_checkpoint(vae, stage="vae").path.resolve())
    card = read_card(str(data))
    problems = shape_problems(cfg, n_mels=card.n_mels, n_frames=card.n_frames)
    if problems:
        raise OstinatoError(f"the config does not fit the training set's {card.n_mels} mel bins x {card.n_frames} "
                            f"frames: {'; '.join(problems)}")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    _start_ray(address, verbose=verbose)
    loop_config = {
        "cfg": cfg.model_dump(mode="json"), "stage": stage, "vae_dir": vae_dir,
        "metadata": trainset_metadata(card, data=str(data)), "out": str(out),
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
            logging_config=ray.train.LoggingConfig(log_level="INFO" if verbose else "WARNING"),
        ),
        datasets={"train": _train_split(str(data), card=card, cache_gb=cfg.run.cache_data_gb, verbose=verbose)},
    )
    optim = cfg.vae_training if stage == "vae" else cfg.training
    follower = None if quiet else _MetricsFollower(out / METRICS_NAME, stage=stage, max_steps=optim.max_steps)
    if follower is not None:
        follower.say(f"{_train_segments(card)} training segments of {card.n_mels} mel bins x {card.n_frames} "
                     f"frames; {cfg.run.num_workers} worker(s) x batch {optim.batch_size}; {optim.max_steps} steps "
                     f"into {out}")
        follower.start()
    try:
        result = trainer.fit()
    except ray.train.TrainingFailedError as exc:
        raise OstinatoError(f"training failed after {cfg.run.max_failures} restarts: {exc}") from None
    finally:
        if follower is not None:
            follower.stop()
    checkpoint = Path(result.checkpoint.path) if result.checkpoint is not None else None
    return TrainSummary(checkpoint=checkpoint, metrics=dict(result.metrics or {}))


class TensorBatches(NumpyBatchCollateFn):
    """Ray Data collate: numpy batches of the shards -> the model's tensors (``loader.to_tensors``)."""

    def __call__(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        from ostinato.datasets.loader import to_tensors

        return to_tensors(batch)


def _start_ray(address: str | None, *, verbose: bool) -> None:
    """``driver.connect``, forwarding worker output to this console only when ``verbose`` (rank 0's metrics
    reach the console through metrics.jsonl), with the driver's Ray Data / Ray Train loggers at INFO only then."""
    level = logging.INFO if verbose else logging.WARNING
    for name in ("ray.data", "ray.train"):
        logging.getLogger(name).setLevel(level)
    connect(address, logging_level=level, log_to_driver=verbose)


def _train_segments(card) -> int:
    stats = card.splits.get("train")
    return stats.segments if stats else 0


def _train_split(data: str, *, card, cache_gb: float, verbose: bool = False):
    """The train split as a Ray Dataset, materialised in the object store when its mels fit in ``cache_gb``.
    The dataset's own DataContext (copied from the current one, so the caller's is untouched) draws no progress
    bars and announces executions only when ``verbose``."""
    from ostinato.datasets.loader import ray_dataset

    dataset = ray_dataset(data, "train")
    dataset.context.enable_progress_bars = False  # the trainer reports its own progress
    dataset.context.print_on_execution_start = verbose
    if not verbose:  # "Progress bars disabled ..." is a WARNING of Ray Data's progress module
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
    mel_gb = _train_segments(card) * card.n_mels * card.n_frames * 2 / 1e9  # float16
    return dataset.materialize() if mel_gb <= cache_gb else dataset


def train_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: build the stage, resume from the latest checkpoint if any, train to max_steps."""
    import ray.train
    import ray.train.torch

    from ostinato.diffusion.checkpoints import load_trainer_state
    from ostinato.diffusion.stages import diffusion_task, vae_task
    from ostinato.diffusion.train import (
        autocast_dtype,
        build_ema,
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
            mel=meta["mel"], device=device,
        )
    optim = task.optim
    model = task.objective
    ema = build_ema(model, optim)
    optimizer, schedule = build_optimizer(model.parameters(), optim)
    step, resumed = 0, False
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = load_trainer_state(folder)
        step, resumed = _restore(state, model=model, ema=ema, optimizer=optimizer, schedule=schedule,
                                 rank=rank, world=world, device=device)
        if not _restore_rng(state, rank=rank, world=world):
            torch.manual_seed(cfg.run.seed + 1000 * rank + step)  # another world size: fresh, distinct noise
    wrapped = ray.train.torch.prepare_model(model, move_to_device=False) if world > 1 else model
    amp = autocast_dtype(optim, device=device)
    writer = _MetricsLog(config["out"], stage=task.stage) if rank == 0 else None
    if writer is not None and resumed:
        writer.event({"event": "resumed", "step": step,
                      "optimizer_fingerprint": optimizer_fingerprint(optimizer.state_dict())})
    batches = _forever(ray.train.get_dataset_shard("train"), batch_size=optim.batch_size, collate_fn=TensorBatches(),
                       shuffle_buffer=cfg.run.shuffle_buffer, seed=cfg.run.seed + 1000 * rank + step)
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
            ema.step(model.parameters())
        step += 1
        last_args = group[-1]
        window.add(result, samples=optim.batch_size * optim.grad_accum * world,
                   seconds=time.perf_counter() - started, wait=timed.waited)
        due_checkpoint = step % cfg.run.checkpoint_every == 0 or step == optim.max_steps
        if step % cfg.run.log_every == 0 or due_checkpoint:
            metrics = {**window.metrics(), "step": step, "resumed": resumed, "workers": world,
                       "eta_s": window.seconds_per_step() * (optim.max_steps - step)}
            saved = None
            rng_states = _gather_rng_states(world) if due_checkpoint else None  # a collective: every rank calls
            if due_checkpoint and rank == 0:
                saved = _save_checkpoint(
                    task, model=model, ema=ema, optimizer=optimizer, schedule=schedule, step=step,
                    last_args=last_args, meta=meta, cfg=cfg, rng_states=rng_states,
                )
            ray.train.report(metrics, checkpoint=saved, checkpoint_dir_name=f"checkpoint_{step:08d}"
                             if due_checkpoint else None)
            if saved is not None:
                shutil.rmtree(saved.path, ignore_errors=True)  # Ray Train has copied it into the run folder
            if writer is not None:
                writer.log(metrics, step=step)
            window = _Window()
    if writer is not None:
        writer.close()


def _restore(state, *, model, ema, optimizer, schedule, rank: int, world: int, device) -> tuple[int, bool]:
    """Load weights, optimizer, lr schedule and EMA of a trainer state; returns (step, True)."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    if ema is not None and state.get("ema") is not None:
        ema.load_state_dict(state["ema"])
        ema.to(device)
    return int(state["step"]), True


def _restore_rng(state, *, rank: int, world: int) -> bool:
    """Put back this rank's RNG states; False when the checkpoint was written by another number of workers."""
    from ostinato.diffusion.checkpoints import restore_rng_state

    saved = state.get("rng") or []
    if len(saved) != world:
        return False
    restore_rng_state(saved[rank])
    return True


def _gather_rng_states(world: int) -> list[dict[str, Any]]:
    """Every rank's ``capture_rng_state``, in rank order (an all-gather when there are several workers)."""
    from ostinato.diffusion.checkpoints import capture_rng_state

    mine = capture_rng_state()
    if world == 1:
        return [mine]
    gathered: list[Any] = [None] * world
    torch.distributed.all_gather_object(gathered, mine)
    return gathered


def _save_checkpoint(
    task, *, model, ema, optimizer, schedule, step: int, last_args: tuple, meta, cfg, rng_states,
):
    from ray.train import Checkpoint

    from ostinato.diffusion.checkpoints import write_checkpoint

    folder = Path(tempfile.mkdtemp(prefix=f"ostinato-{task.stage}-{step:08d}-"))
    write_checkpoint(folder, task=task, model=model, ema=ema, optimizer=optimizer, schedule=schedule, step=step,
                     last_args=last_args, metadata={**meta, "config": cfg.model_dump(mode="json")},
                     rng_states=rng_states)
    return Checkpoint.from_directory(str(folder))


def _forever(
    shard, *, batch_size: int, collate_fn, shuffle_buffer: int = 0, seed: int = 0
) -> Iterator[dict[str, torch.Tensor]]:
    """Epoch after epoch of ``shard``'s batches (full batches only), drawn from a local shuffle buffer of
    ``shuffle_buffer`` segments (0: in shard order, where a batch holds consecutive segments of one track)."""
    epoch = 0
    while True:
        produced = False
        shuffle = {"local_shuffle_buffer_size": shuffle_buffer, "local_shuffle_seed": seed + epoch}
        epoch += 1
        for batch in shard.iter_torch_batches(batch_size=batch_size, collate_fn=collate_fn, drop_last=True,
                                              **(shuffle if shuffle_buffer else {})):
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
        self.opened = time.perf_counter()

    def add(self, result, *, samples: int, seconds: float, wait: float) -> None:
        self.steps += 1
        self.samples += samples
        self.seconds += seconds
        self.wait += wait
        self.lr = result.lr
        for name, value in {"loss": result.loss, "grad_norm": result.grad_norm, **result.terms}.items():
            self.sums[name] = self.sums.get(name, 0.0) + value

    def seconds_per_step(self) -> float:
        """Wall seconds per step since the window opened (checkpoints and reports included)."""
        return (time.perf_counter() - self.opened) / max(self.steps, 1)

    def metrics(self) -> dict[str, float]:
        n = max(self.steps, 1)
        return {**{k: v / n for k, v in self.sums.items()}, "lr": self.lr,
                "samples_per_s": self.samples / max(self.seconds, 1e-9),
                "data_wait_share": self.wait / max(self.seconds, 1e-9)}


#: The run folder's metric log: one JSON object per report or event, appended across restarts and relaunches.
METRICS_NAME = "metrics.jsonl"


class _MetricsLog:
    """Rank 0's metric sink: TensorBoard scalars under RUN_DIR/tensorboard and one JSON line per report or event
    in RUN_DIR/metrics.jsonl (which the driver's ``_MetricsFollower`` prints)."""

    def __init__(self, out: str, *, stage: str) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.stage = stage
        self.tensorboard = SummaryWriter(log_dir=str(Path(out) / "tensorboard"))
        self.jsonl = Path(out) / METRICS_NAME

    def event(self, record: dict[str, Any]) -> None:
        with self.jsonl.open("a") as handle:
            handle.write(json.dumps({"stage": self.stage, "time": time.time(), **record}) + "\n")

    def log(self, metrics: dict[str, Any], *, step: int) -> None:
        self.event(metrics)
        for name, value in metrics.items():
            if isinstance(value, float) and name != "eta_s":
                self.tensorboard.add_scalar(f"{self.stage}/{name}", value, step)
        self.tensorboard.flush()

    def close(self) -> None:
        self.tensorboard.close()


def report_line(record: dict[str, Any], *, max_steps: int) -> str:
    """One console line for a metrics.jsonl record: a report (step, loss, lr, samples/s, data-wait share, ETA)
    or an event such as ``resumed``."""
    if "event" in record:
        return f"{record['event']} at step {record.get('step')}"
    parts = [f"step {record['step']}/{max_steps}", f"loss {record['loss']:.4f}"]
    if "reconstruction" in record:
        parts.append(f"recon {record['reconstruction']:.4f}")
    parts += [f"lr {record['lr']:.2e}", f"{record['samples_per_s']:.1f} samples/s",
              f"data wait {record['data_wait_share']:.0%}", f"ETA {_duration(record.get('eta_s', 0.0))}"]
    return "  ".join(parts)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class _MetricsFollower:
    """The driver's console: prints the lines appended to RUN_DIR/metrics.jsonl while a run trains (polling it
    every ``interval`` seconds from a daemon thread), so workers need not forward their output."""

    def __init__(self, path: Path, *, stage: str, max_steps: int, interval: float = 0.5) -> None:
        self.path, self.stage, self.max_steps, self.interval = path, stage, max_steps, interval
        self.offset = path.stat().st_size if path.exists() else 0  # earlier runs' lines are not repeated
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ostinato-metrics", daemon=True)

    def say(self, text: str) -> None:
        print(f"[{self.stage}] {text}", flush=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._drain()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._drain()

    def _drain(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            while True:
                line = handle.readline()
                if not line.endswith(b"\n"):  # nothing more, or a line still being written
                    break
                self.offset += len(line)
                self.say(report_line(json.loads(line), max_steps=self.max_steps))
