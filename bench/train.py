"""Ray Train overhead and data-loader headroom for the diffusion stage, measured in one run.

1. Plain loop: one process, a torch DataLoader over the Parquet shards (``SegmentDataset``), the tiny U-Net +
   conditioner of configs/train/tiny.yaml on a frozen tiny VAE -> samples/s (the baseline).
2. Ray Train loop: the same model, data and batch size through ``ostinato train``'s TorchTrainer (1 worker,
   Ray Data streaming shards) -> samples/s from its own metrics, after the first report window (warm-up).
3. Loader: the Ray Data iterator the workers use (``iter_torch_batches`` + ``to_tensors``) alone -> samples/s,
   against the model's consumption (1.).

Targets: Ray Train overhead <= 15 %; loader >= 5x the model's consumption. Both loops use one torch thread
(a Ray worker with one CPU gets one). Usage: ``python bench/train.py [--steps 60] [--json bench/results/train.json]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def plain_loop(cfg, *, trainset: str, vae_dir: Path, steps: int, warmup: int) -> float:
    from ostinato.datasets.loader import SegmentDataset, read_card
    from ostinato.diffusion.stages import diffusion_task, trainset_metadata
    from ostinato.diffusion.train import build_ema, build_optimizer, optimizer_step
    from ostinato.diffusion.vae import MelScaler

    card = read_card(trainset)
    task = diffusion_task(
        cfg, vae_dir=vae_dir, scaler=MelScaler(mean=card.mel_mean, std=card.mel_std), vocab_sizes=card.vocab_sizes,
        mel=trainset_metadata(card, data=trainset)["mel"], device=torch.device("cpu"),
    )
    loader = torch.utils.data.DataLoader(SegmentDataset(trainset, "train"), batch_size=cfg.training.batch_size,
                                         shuffle=True, drop_last=True)
    optimizer, schedule = build_optimizer(task.objective.parameters(), task.optim)
    ema = build_ema(task.objective, task.optim)
    batches = itertools.chain.from_iterable(itertools.repeat(loader))
    started = None
    for step in range(warmup + steps):
        if step == warmup:
            started = time.perf_counter()
        optimizer_step(task.objective, [task.prepare(next(batches))], optimizer=optimizer, schedule=schedule,
                       clip_norm=task.optim.clip_norm, autocast=None, device=torch.device("cpu"))
        if ema is not None:
            ema.step(task.objective.parameters())  # the Ray worker does the same per step
    return steps * cfg.training.batch_size / (time.perf_counter() - started)


def ray_loop(cfg, *, trainset: str, vae_dir: Path, out: Path, log_every: int) -> tuple[float, float]:
    from ostinato.pipelines.train import run_training

    run_training(cfg, stage="diffusion", data=trainset, out=out, vae=vae_dir, quiet=True)
    reports = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    reports = [r for r in reports if "samples_per_s" in r][1:]  # the first window holds the warm-up
    seconds = sum(log_every * cfg.training.batch_size / r["samples_per_s"] for r in reports)
    return len(reports) * log_every * cfg.training.batch_size / seconds, sum(
        r["data_wait_share"] for r in reports) / len(reports)


def loader_rate(cfg, *, trainset: str, epochs: int) -> float:
    from ostinato.datasets.loader import read_card
    from ostinato.pipelines.train import TensorBatches, _train_split

    dataset = _train_split(trainset, card=read_card(trainset), cache_gb=cfg.run.cache_data_gb)
    rows = 0
    for _ in range(1):  # warm-up epoch
        for _batch in dataset.iter_torch_batches(batch_size=cfg.training.batch_size, collate_fn=TensorBatches()):
            pass
    started = time.perf_counter()
    for _ in range(epochs):
        for batch in dataset.iter_torch_batches(batch_size=cfg.training.batch_size, collate_fn=TensorBatches(),
                                                drop_last=True):
            rows += len(batch["mel"])
    return rows / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="timed optimizer steps per loop")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "train.json")
    args = parser.parse_args()

    import ray

    from ostinato.diffusion.config import load_train_config
    from ostinato.testing.tiny_model import train_tiny_model
    from ostinato.testing.trainset import write_tiny_trainset

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="ostinato-bench-train-"))
    # Long enough epochs (~190 train segments) that a streaming epoch restart is rare, as on real training sets.
    trainset = str(write_tiny_trainset(work / "trainset", n_tracks=16, segments_per_track=16))
    vae_dir = train_tiny_model(trainset, work / "tiny", vae_steps=10, steps=1).vae
    log_every = 10
    warmup = log_every
    cfg = load_train_config(REPO / "configs" / "train" / "tiny.yaml", [
        f"training.max_steps={warmup + args.steps}", "training.batch_size=4", f"run.log_every={log_every}",
        f"run.checkpoint_every={10 * (warmup + args.steps)}", "run.cpus_per_worker=1",
    ])
    print(f"plain loop: {args.steps} steps of {cfg.training.batch_size} segments ...", flush=True)
    plain = plain_loop(cfg, trainset=trainset, vae_dir=vae_dir, steps=args.steps, warmup=warmup)
    print(f"  {plain:.1f} samples/s", flush=True)
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    print("Ray Train loop (1 worker, Ray Data shards) ...", flush=True)
    on_ray, wait_share = ray_loop(cfg, trainset=trainset, vae_dir=vae_dir, out=work / "run", log_every=log_every)
    print(f"  {on_ray:.1f} samples/s, data wait {100 * wait_share:.1f} % of step time", flush=True)
    print("Ray Data loader alone ...", flush=True)
    loader = loader_rate(cfg, trainset=trainset, epochs=20)
    print(f"  {loader:.1f} samples/s", flush=True)
    ray.shutdown()
    overhead = 1 - on_ray / plain
    headroom = loader / plain
    result = {
        "machine": {"cpus": __import__("os").cpu_count(), "platform": platform.platform(),
                    "torch": torch.__version__, "ray": ray.__version__},
        "model": "configs/train/tiny.yaml (diffusion stage)", "batch_size": cfg.training.batch_size,
        "timed_steps": args.steps, "plain_samples_per_s": plain, "ray_train_samples_per_s": on_ray,
        "ray_train_overhead": overhead, "ray_train_data_wait_share": wait_share,
        "loader_samples_per_s": loader, "loader_headroom": headroom,
        "targets": {"ray_train_overhead_max": 0.15, "loader_headroom_min": 5.0},
    }
    print(f"Ray Train overhead vs plain loop: {100 * overhead:+.1f} % (target <= 15 %)")
    print(f"loader headroom: {headroom:.1f}x the model's consumption (target >= 5x)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
