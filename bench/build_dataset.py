"""Benchmark of `ostinato build-dataset` and of reading the training set back.

Prints, in one run on the same inputs (a demo corpus analysed without separation):
  * x-realtime of the Ray pipeline (warm workers) and of the same ``build_track`` in a sequential loop, and
    their ratio (the pipeline should approach the number of cores);
  * segments/s read by ``SegmentDataset`` + a torch ``DataLoader`` and by ``ray_dataset(...).iter_torch_batches``
    with ``to_tensors``, against a plain ``pyarrow`` read of the same shards as the baseline.

Usage: python bench/build_dataset.py [--tracks 6 --seconds 30] [--json bench/results/build_dataset.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

OVERRIDES = ["segment.n_frames=256", "segment.hop_s=0.5"]  # overlapping segments: ~10x the rows


def _sequential(features: str, out: str, config) -> float:
    """build_track over every row in this process, writing the same shards; returns wall seconds."""
    from ostinato.datasets.build import build_track
    from ostinato.datasets.shards import SegmentWriter
    from ostinato.datasets.split import split_of
    from ostinato.pipelines.build_dataset import iter_rows
    from ostinato.schema import tracks_dataset

    start = time.perf_counter()
    writer = SegmentWriter(out, run_id="sequential", rows_per_shard=config.output.rows_per_shard)
    for row in iter_rows(tracks_dataset(features), skip=set()):
        split = split_of(row["track_id"], val_share=config.split.val_share, seed=config.split.seed)
        writer.add(build_track(row, audio_path=row["path"], split=split, config=config), split=split)
    writer.close()
    return time.perf_counter() - start


def _read_rates(trainset: str, batch_size: int = 16) -> dict[str, float]:
    import pyarrow.dataset as pads
    import torch

    from ostinato.datasets.loader import SegmentDataset, TensorCollate, ray_dataset

    rates = {}
    start = time.perf_counter()
    n = pads.dataset(f"{trainset}/train", format="parquet").to_table().num_rows
    rates["pyarrow_table_segments_per_s"] = n / (time.perf_counter() - start)
    start = time.perf_counter()
    n = sum(len(b["mel"]) for b in torch.utils.data.DataLoader(SegmentDataset(trainset, "train"),
                                                                 batch_size=batch_size))
    rates["segment_dataset_segments_per_s"] = n / (time.perf_counter() - start)
    ds = ray_dataset(trainset, "train")
    next(iter(ds.iter_torch_batches(batch_size=batch_size, collate_fn=TensorCollate())))  # start the executor once
    start = time.perf_counter()
    n = sum(len(b["mel"]) for b in ds.iter_torch_batches(batch_size=batch_size, collate_fn=TensorCollate()))
    rates["ray_iter_torch_batches_segments_per_s"] = n / (time.perf_counter() - start)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import ray

    from ostinato.config import load_config
    from ostinato.datasets.config import load_dataset_config
    from ostinato.demo import write_demo_corpus
    from ostinato.pipelines.analyze import run_analysis
    from ostinato.pipelines.build_dataset import run_build_dataset
    from ostinato.pipelines.driver import connect

    work = Path(tempfile.mkdtemp(prefix="bench-build-dataset-"))
    write_demo_corpus(work / "corpus", n_tracks=args.tracks, seconds=args.seconds)
    connect()
    features = str(work / "features")
    run_analysis([str(work / "corpus")], features, load_config(None, ["separation.enabled=false"]),
                 show_progress=False)
    config = load_dataset_config(None, OVERRIDES)
    # A first, discarded build warms the workers (imports, numba caches) as the sequential loop's warm-up does.
    run_build_dataset(features, str(work / "warm"), config, show_progress=False)
    summary = run_build_dataset(features, str(work / "ray"), config, show_progress=False)
    _sequential(features, str(work / "seq-warm"), config)
    seq_s = _sequential(features, str(work / "seq"), config)
    audio_s = summary.audio_s
    result = {
        "tracks": args.tracks, "seconds_each": args.seconds, "cpus": ray.cluster_resources().get("CPU"),
        "segments": summary.segments, "ray_x_realtime": audio_s / summary.wall_s,
        "sequential_x_realtime": audio_s / seq_s, "ray_over_sequential": seq_s / summary.wall_s,
        **_read_rates(str(work / "ray")),
    }
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
