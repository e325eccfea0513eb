"""Benchmark of `ostinato analyze`: the Ray pipeline against the same stage functions in a sequential loop.

Prints, in one run on the same inputs:
  * end-to-end x-realtime of the Ray pipeline and of the sequential loop, and their ratio,
    without separation and with it (a tiny random-weight HTDemucs unless --separation-model names real weights);
  * peak RSS of each mode (each runs in its own child process; the pipeline's includes its Ray workers);
  * essentia's MusicExtractor (the AcousticBrainz extractor) on the same files, as a peer;
  * optionally (--long-minutes) the peak RSS of analysing one long file against the size of its waveform.

Usage: python bench/analyze.py [--tracks 12 --seconds 30] [--long-minutes 60] [--json bench/results/x.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _audio_seconds(files: list[str]) -> float:
    from ostinato.analysis.decode import probe

    return sum(probe(f).duration_s for f in files)


def _files(folder: str) -> list[str]:
    return sorted(str(p) for p in Path(folder).glob("*.mp3"))


def _config(separation: str | None, repo: str | None):
    from ostinato.config import load_config

    if separation is None:
        return load_config(None, ["separation.enabled=false"])
    overrides = ["separation.enabled=true", f"separation.model={separation}", "separation.device=auto"]
    if repo:
        overrides.append(f"separation.repo={repo}")
    return load_config(None, overrides)


def mode_sequential(folder: str, separation: str | None, repo: str | None) -> dict:
    """The pipeline's own stage functions, one file after another, in this process."""
    from ostinato.analysis.separation import SeparatorSpec, load_separator
    from ostinato.pipelines import stages
    from ostinato.pipelines.inputs import list_inputs

    config = _config(separation, repo)
    separator = None
    if separation is not None:
        separator = load_separator(SeparatorSpec(model=separation, repo=Path(repo) if repo else None))
    items = list_inputs([folder])
    start = time.perf_counter()
    ok = 0
    for item in items:
        prepared, audio, model_audio = stages.prepare(
            item, config, model_sr=separator.samplerate if separator else None
        )
        if not prepared.ok:
            continue
        stems = None
        if separator is not None:
            stems = stages.separate(separator, model_audio, track_id=prepared.track_id, model=separation,
                                    analysis_sr=config.decode.sample_rate, hop_length=config.features.hop_length,
                                    keep_signals=stages.needs_stem_signals(config.features))
        row = stages.describe(prepared, audio, config=config, stems=stems)
        ok += row["status"] == "ok"
    return {"wall_s": time.perf_counter() - start, "ok": ok}


class _RssSampler(threading.Thread):
    """Samples the summed RSS of this process and every Ray worker process, keeping the peak."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_total = 0
        self.peak_worker = 0
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self.stop.is_set():
            total, worker = me.memory_info().rss, 0
            for proc in psutil.process_iter(["name", "cmdline", "memory_info"]):
                cmd = " ".join(proc.info["cmdline"] or [])
                if proc.info["memory_info"] and ("ray::" in cmd or "default_worker.py" in cmd):
                    rss = proc.info["memory_info"].rss
                    total += rss
                    worker = max(worker, rss)
            self.peak_total = max(self.peak_total, total)
            self.peak_worker = max(self.peak_worker, worker)
            time.sleep(0.2)


def _warm_worker() -> None:
    import ostinato.pipelines.stages  # noqa: F401  (librosa, music21 and numba caches load here)

    time.sleep(0.5)  # hold this worker so that the next warm-up task starts another


def mode_pipeline(folder: str, separation: str | None, repo: str | None) -> dict:
    """`run_analysis` on a local Ray with every core of this machine; Ray start-up and worker imports timed apart."""
    import ray

    from ostinato.pipelines.analyze import run_analysis
    from ostinato.pipelines.driver import connect

    config = _config(separation, repo)
    start = time.perf_counter()
    connect(None)
    # One worker per core imports the stage modules, as the sequential loop does before its clock starts.
    warm = ray.remote(_warm_worker)
    ray.get([warm.remote() for _ in range(int(ray.cluster_resources()["CPU"]))])
    startup = time.perf_counter() - start
    sampler = _RssSampler()
    sampler.start()
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        summary = run_analysis([folder], out, config, show_progress=False)
        wall = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    return {"wall_s": wall, "ok": summary.ok, "ray_startup_s": startup, "stage_share": summary.stage_share(),
            "peak_rss_total_mb": sampler.peak_total / 2**20, "peak_rss_worker_mb": sampler.peak_worker / 2**20}


def mode_music_extractor(folder: str) -> dict:
    """essentia's MusicExtractor with its default profile, one file after another."""
    import essentia
    import essentia.standard as es

    essentia.log.infoActive = False
    essentia.log.warningActive = False
    extractor = es.MusicExtractor()
    start = time.perf_counter()
    for f in _files(folder):
        extractor(f)
    return {"wall_s": time.perf_counter() - start}


def mode_long(path: str) -> dict:
    """Analyse one long file with the pipeline's stage functions; report decoded waveform size."""
    from ostinato.pipelines import stages
    from ostinato.pipelines.inputs import list_inputs

    config = _config(None, None)
    (item,) = list_inputs([path])
    start = time.perf_counter()
    prepared, audio, _ = stages.prepare(item, config)
    row = stages.describe(prepared, audio, config=config)
    return {"wall_s": time.perf_counter() - start, "status": row["status"], "audio_s": audio.duration_s,
            "waveform_mb": audio.y.nbytes / 2**20}


def _child(mode: str, *args: str) -> dict:
    """Run one mode in a fresh interpreter; add its peak RSS (children included: Ray's workers)."""
    cmd = [sys.executable, __file__, "--child", mode, *args]
    result = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "RAY_ADDRESS": ""})
    if result.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{result.stderr[-3000:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    data["peak_rss_mb"] = data.pop("_maxrss_kb") / 1024
    return data


def _subset(corpus: Path, n: int) -> Path:
    """A folder holding links to the first ``n`` tracks of ``corpus``."""
    folder = corpus.parent / f"{corpus.name}-first{n}"
    folder.mkdir(exist_ok=True)
    for f in _files(str(corpus))[:n]:
        link = folder / Path(f).name
        if not link.exists():
            link.symlink_to(f)
    return folder


def _make_tiny_demucs(folder: Path) -> tuple[str, str]:
    from ostinato.testing.tiny_demucs import build_tiny_htdemucs, save_local_repo

    name = "tiny_htdemucs"
    save_local_repo(build_tiny_htdemucs(), folder, name=name)
    return name, str(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--separation-model", default=None,
                        help="Demucs model with weights available here; default: a tiny random-weight HTDemucs")
    parser.add_argument("--separation-repo", default=None)
    parser.add_argument("--separation-tracks", type=int, default=12,
                        help="the separation runs use the first N tracks (separation on CPU is slow)")
    parser.add_argument("--peer-tracks", type=int, default=24, help="MusicExtractor runs on the first N tracks")
    parser.add_argument("--long-minutes", type=float, default=0.0, help="also measure one file this long")
    parser.add_argument("--skip-separation", action="store_true")
    parser.add_argument("--json", default=None, help="write the figures here as JSON")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        mode, *rest = args.child
        rest = [None if r == "-" else r for r in rest]
        result = {"sequential": mode_sequential, "pipeline": mode_pipeline,
                  "music_extractor": mode_music_extractor, "long": mode_long}[mode](*rest)
        result["_maxrss_kb"] = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                                   resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        print(json.dumps(result))
        return

    from ostinato.demo import write_demo_corpus

    work = Path(tempfile.mkdtemp(prefix="ostinato-bench-"))
    corpus = work / "corpus"
    write_demo_corpus(corpus, n_tracks=args.tracks, seconds=args.seconds, seed=7)
    audio_s = _audio_seconds(_files(str(corpus)))
    cores = os.cpu_count()
    report: dict = {"tracks": args.tracks, "audio_s": audio_s, "cores": cores}
    print(f"corpus: {args.tracks} MP3s, {audio_s / 60:.1f} min of audio, {cores} cores")

    runs = [("without separation", None, None, corpus)]
    if not args.skip_separation:
        if args.separation_model:
            model, repo, label = args.separation_model, args.separation_repo, args.separation_model
        else:
            (model, repo), label = _make_tiny_demucs(work / "tiny-demucs"), "tiny random-weight HTDemucs"
        subset = _subset(corpus, args.separation_tracks)
        runs.append((f"with separation ({label}, {args.separation_tracks} tracks)", model, repo, subset))
    for label, model, repo, folder in runs:
        seconds = _audio_seconds(_files(str(folder)))
        seq = _child("sequential", str(folder), model or "-", repo or "-")
        pipe = _child("pipeline", str(folder), model or "-", repo or "-")
        entry = {
            "audio_s": seconds,
            "sequential_x_realtime": seconds / seq["wall_s"], "pipeline_x_realtime": seconds / pipe["wall_s"],
            "ratio": seq["wall_s"] / pipe["wall_s"], "sequential_peak_rss_mb": seq["peak_rss_mb"],
            "pipeline_peak_rss_total_mb": pipe["peak_rss_total_mb"],
            "pipeline_peak_rss_worker_mb": pipe["peak_rss_worker_mb"],
            "ray_startup_s": pipe["ray_startup_s"], "stage_share": pipe["stage_share"],
            "ok": [seq["ok"], pipe["ok"]],
        }
        report[label] = entry
        print(f"\n{label}:")
        print(f"  sequential loop : {entry['sequential_x_realtime']:7.1f}x realtime  "
              f"(peak RSS {entry['sequential_peak_rss_mb']:.0f} MB)")
        print(f"  Ray pipeline    : {entry['pipeline_x_realtime']:7.1f}x realtime  "
              f"(peak RSS all processes {entry['pipeline_peak_rss_total_mb']:.0f} MB, "
              f"largest worker {entry['pipeline_peak_rss_worker_mb']:.0f} MB; Ray start-up "
              f"{entry['ray_startup_s']:.1f} s, worker imports included, not counted)")
        print(f"  pipeline / sequential: {entry['ratio']:.2f}x   stage share: "
              + ", ".join(f"{k} {v:.0%}" for k, v in entry["stage_share"].items() if v))

    if args.peer_tracks:
        peers = _subset(corpus, args.peer_tracks)
        peer = _child("music_extractor", str(peers))
        report["music_extractor_x_realtime"] = _audio_seconds(_files(str(peers))) / peer["wall_s"]
        print(f"\nessentia MusicExtractor (1 process): {report['music_extractor_x_realtime']:.1f}x realtime")
        ours, peer_x = report["without separation"]["sequential_x_realtime"], report["music_extractor_x_realtime"]
        print(f"per core: ostinato sequential {ours:.1f}x vs MusicExtractor {peer_x:.1f}x -> {ours / peer_x:.2f}x")

    if args.long_minutes:
        from ostinato.testing.corpus import write_bad_inputs

        files = write_bad_inputs(work / "long", include_long=True, long_minutes=args.long_minutes)
        long = _child("long", str(files["long"]))
        report["long_file"] = long
        print(f"\n{args.long_minutes:.0f}-minute file: {long['status']}, {long['audio_s'] / long['wall_s']:.0f}x "
              f"realtime, peak RSS {long['peak_rss_mb']:.0f} MB for a {long['waveform_mb']:.0f} MB waveform "
              f"(+{long['peak_rss_mb'] - long['waveform_mb']:.0f} MB)")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    main()
