"""Does the diffusion model do what the theory conditions ask, on condition sets it never trained on?

One command, about 30-40 minutes on a 2-core CPU, no GPU:

1. corpus: a synthetic corpus (``ostinato.demo``) over 24 keys, 14 progressions, tempos 88-126 BPM, 3/4 and 4/4,
   three keyboard styles and four timbres. Training tracks are 20 s; held-out tracks are 9 s (one 8.2 s
   condition set each). Most held-out tracks have a (key, progression) combination no training track has; the
   rest have a seen one. A track's split is the training set's own (a hash of its content), so each track is
   rendered (its melody's seed moved on) until it lands in the split it is meant for.
2. ``ostinato analyze`` (configs/demo.yaml: no separation), 3. ``ostinato build-dataset``
   (configs/dataset-adherence.yaml), 4. ``ostinato train-vae`` and 5. ``ostinato train``
   (configs/train/adherence.yaml), with the VAE's ceiling measured in between (the held-out real mels through
   the VAE and the vocoder, scored as evaluate scores), 6. ``ostinato evaluate`` of the final checkpoint on
   every held-out segment, and of earlier checkpoints on fewer segments for the curve (metric vs steps).

Prints the guided / unconditional / reference / VAE round-trip table (also per group: unseen vs seen
combinations) and writes ``bench/results/adherence.json`` with the figures, the command, seconds per stage and
the held-out combinations.

Usage: ``python bench/adherence.py [--work DIR] [--json bench/results/adherence.json]``; ``--train-tracks``,
``--heldout``, ``--curve`` and ``--guidance`` change the sizes (the defaults are the measured run).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ANALYZE_CONFIG = REPO / "configs" / "demo.yaml"
DATASET_CONFIG = REPO / "configs" / "dataset-adherence.yaml"
TRAIN_CONFIG = REPO / "configs" / "train" / "adherence.yaml"

MAJOR_PROGRESSIONS = (
    ("I", "IV", "V", "I"), ("I", "V", "vi", "IV"), ("I", "vi", "IV", "V"), ("ii", "V", "I", "I"),
    ("I", "IV", "I", "V"), ("vi", "IV", "I", "V"), ("I", "iii", "IV", "V"), ("IV", "V", "I", "vi"),
)
MINOR_PROGRESSIONS = (
    ("i", "iv", "V", "i"), ("i", "VI", "iv", "V"), ("i", "iv", "V7", "i"), ("i", "VI", "III", "V"),
    ("i", "V", "i", "iv"), ("iv", "V", "i", "i"),
)
#: Keyboard styles by beats per bar.
STYLES = {4: ("block", "arpeggio"), 3: ("waltz", "block", "arpeggio")}
TIMBRE_NAMES = ("default", "organ", "mellow", "bright")
TRAIN_SECONDS, HELDOUT_SECONDS = 20.0, 9.0
SAMPLE_RATE = 22050
METRICS = ("chord_root_accuracy", "chord_majmin_accuracy", "key_accuracy", "tempo_error", "beat_f_measure")
TARGETS = {"chord_root_accuracy": 0.35, "chord_majmin_accuracy": 0.25, "key_accuracy": 0.5, "tempo_error": 0.10,
           "beat_f_measure": 0.75}


def ostinato(stage: str, *locations: Path, config: Path | None = None, overrides: tuple[str, ...] = (),
             options: tuple[str, ...] = ()) -> list[str]:
    """The command line of one ``ostinato`` stage (the one place that knows the CLI's forms): its locations as
    arguments, ``--config``, one ``--set`` per override, then other options."""
    exe = shutil.which("ostinato", path=str(Path(sys.executable).parent)) or "ostinato"
    cfg = ["--config", str(config)] if config else []
    return [exe, stage, *map(str, locations), *cfg, *(x for o in overrides for x in ("--set", o)), *options]


@dataclass(frozen=True)
class Planned:
    """One track of the corpus: its spec, the split it must land in, and its group among held-out tracks."""

    spec: object  # ostinato.demo.corpus.TrackSpec
    split: str
    group: str  # "train" | "unseen" | "seen"

    @property
    def combo(self) -> str:
        from ostinato.theory.roman import key_name

        return f"{key_name(self.spec.tonic_pc, self.spec.mode)} {self.spec.mode}: {' '.join(self.spec.progression)}"


def plan_corpus(*, n_train: int, n_unseen: int, n_seen: int, seed: int) -> list[Planned]:
    """Specs of the training tracks and held-out tracks; unseen combinations are drawn first and kept out of
    training, and every key and every progression of them occurs in training with something else."""
    from ostinato.demo.corpus import TrackSpec

    rng = np.random.default_rng(seed)
    combos = [(t, "major", p) for t in range(12) for p in MAJOR_PROGRESSIONS]
    combos += [(t, "minor", p) for t in range(12) for p in MINOR_PROGRESSIONS]
    order = rng.permutation(len(combos))
    unseen = [combos[i] for i in order[:n_unseen]]
    pool = [combos[i] for i in order[n_unseen:]]
    train = [pool[i % len(pool)] for i in range(n_train)]

    def spec(name: str, combo: tuple) -> TrackSpec:
        tonic, mode, progression = combo
        beats = int(rng.choice([4, 4, 3]))
        return TrackSpec(name, tonic, mode, float(rng.integers(88, 127)), beats, progression,
                         str(rng.choice(STYLES[beats])), timbre=str(rng.choice(TIMBRE_NAMES)))

    seen = [train[i] for i in rng.choice(len(train), size=n_seen, replace=False)]
    planned = [Planned(spec(f"train{i:03d}", c), "train", "train") for i, c in enumerate(train)]
    planned += [Planned(spec(f"unseen{i:02d}", c), "val", "unseen") for i, c in enumerate(unseen)]
    planned += [Planned(spec(f"seen{i:02d}", c), "val", "seen") for i, c in enumerate(seen)]
    train_keys = {(t, m) for t, m, _ in train}
    train_progressions = {p for _, _, p in train}
    assert all((t, m) in train_keys and p in train_progressions for t, m, p in unseen)
    return planned


def write_corpus(folder: Path, planned: list[Planned], *, val_share: float, split_seed: int) -> list[dict]:
    """Render each planned track as an MP3 whose content hash puts it in its split; returns one record per track
    (file, track id, split, group, combination, tempo, meter, style, timbre)."""
    from ostinato.analysis.identify import content_hash
    from ostinato.datasets.split import split_of
    from ostinato.demo.corpus import render_track
    from ostinato.demo.encode import encode_mp3

    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for index, p in enumerate(planned):
        seconds = TRAIN_SECONDS if p.split == "train" else HELDOUT_SECONDS
        for attempt in range(200):
            rng = np.random.default_rng([index, attempt])
            truth, stereo = render_track(p.spec, index=index, seconds=seconds, sr=SAMPLE_RATE, rng=rng)
            path = encode_mp3(stereo, sr=SAMPLE_RATE, path=folder / truth.file)
            with open(path, "rb") as f:
                track_id, _ = content_hash(f)
            if split_of(track_id, val_share=val_share, seed=split_seed) == p.split:
                break
        else:
            raise RuntimeError(f"{truth.file} never landed in {p.split}")
        records.append({"file": truth.file, "track_id": track_id, "split": p.split, "group": p.group,
                        "combo": p.combo, "bpm": p.spec.bpm, "meter": f"{p.spec.beats_per_bar}/4",
                        "style": p.spec.keys_style, "timbre": p.spec.timbre, "renders": attempt + 1})
        (folder / f"{truth.name}.truth.json").write_text(json.dumps(truth.to_dict()) + "\n")
    return records


def run(cmd: list[str], *, log: Path) -> float:
    """Run one CLI stage, its output into ``log``; returns wall seconds. A failure ends the bench with the log."""
    print("$", " ".join(cmd), flush=True)
    started = time.monotonic()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO)
    seconds = time.monotonic() - started
    if proc.returncode:
        sys.exit(f"{cmd[1]} failed (exit {proc.returncode}); its output:\n{log.read_text()[-4000:]}")
    print(f"  {seconds:.0f} s", flush=True)
    return seconds


def vae_ceiling(trainset: Path, vae_run: Path, *, limit: int) -> dict[str, float]:
    """Means of ``evaluate``'s scores for the held-out segments' real mels after a round trip through the trained
    VAE (encode, mode, decode) and the same vocoder: what a perfect U-Net could reach with this autoencoder."""
    import torch
    from diffusers import AutoencoderKL

    from ostinato.datasets.loader import SegmentDataset, read_card
    from ostinato.diffusion.checkpoints import resolve_checkpoint
    from ostinato.diffusion.conditioner import condition_tensors
    from ostinato.diffusion.evaluate import reference_of, score_audio
    from ostinato.diffusion.vae import MelScaler, decode_latents, encode_latents
    from ostinato.diffusion.vocoder import load_vocoder

    card = read_card(str(trainset))
    vae = AutoencoderKL.from_pretrained(resolve_checkpoint(vae_run, stage="vae").path / "vae",
                                        low_cpu_mem_usage=False).eval()
    scaler = MelScaler(mean=card.mel_mean, std=card.mel_std)
    dataset = SegmentDataset(str(trainset), "val")
    batch = torch.utils.data.default_collate([dataset[i] for i in range(min(limit, len(dataset)))])
    conditions = condition_tensors(batch)
    latents = encode_latents(vae, scaler.normalise(batch["mel"]), sample=False)
    mels = scaler.denormalise(decode_latents(vae, latents))[:, 0]
    mel = card.mel
    vocoder = load_vocoder(None, mel={k: getattr(mel, k) for k in ("sample_rate", "n_fft", "hop_length", "fmin",
                                                                    "fmax")})
    frame_rate = mel.sample_rate / mel.hop_length
    scores = [score_audio(vocoder(mels[j].numpy()), sr=mel.sample_rate,
                          reference=reference_of(conditions, j, frame_rate=frame_rate)) for j in range(len(mels))]
    return {m: _nanmean([s[m] for s in scores]) for m in METRICS}


def checkpoints(run_dir: Path) -> dict[int, Path]:
    """Checkpoint folders of a training run by step (``checkpoint_00000500`` -> 500)."""
    return {int(p.name.split("_")[1]): p for p in sorted(run_dir.glob("checkpoint_*"))
            if p.is_dir() and p.name.split("_")[1].isdigit()}


def group_means(report: dict, groups: dict[str, str]) -> dict[str, dict[str, dict[str, float]]]:
    """Means per held-out group ("unseen", "seen") and run, from evaluate.json's per-segment scores."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for group in sorted(set(groups.values())):
        rows = [r for r in report["per_segment"] if groups.get(r["segment_id"].split(":")[0]) == group]
        out[group] = {"n_segments": len(rows)}
        for run_name in ("guided", "unconditional", "reference"):
            out[group][run_name] = {
                m: _nanmean([r[run_name][m] for r in rows]) for m in METRICS
            }
    return out


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def table(means: dict[str, dict[str, float]], autoencoded: dict[str, float] | None = None) -> str:
    """Guided, unconditional, reference (and the VAE round trip's) means of each metric, with its target."""
    vae_head = f"{'VAE trip':>10}" if autoencoded else ""
    lines = [f"{'metric':<24}{'guided':>9}{'uncond':>9}{'reference':>11}{vae_head}{'target':>9}"]
    for m in METRICS:
        g, u, r = (means[k][m] for k in ("guided", "unconditional", "reference"))
        target = ("<= " if m == "tempo_error" else ">= ") + f"{TARGETS[m]:g}"
        vae = f"{autoencoded[m]:>10.3f}" if autoencoded else ""
        lines.append(f"{m:<24}{g:>9.3f}{u:>9.3f}{r:>11.3f}{vae}{target:>9}")
    return "\n".join(lines)


def acceptance(means: dict[str, dict[str, float]]) -> dict[str, bool]:
    g, u = means["guided"], means["unconditional"]
    return {
        "chord_root_accuracy": g["chord_root_accuracy"] >= TARGETS["chord_root_accuracy"]
        and g["chord_root_accuracy"] >= 4 * u["chord_root_accuracy"],
        "chord_majmin_accuracy": g["chord_majmin_accuracy"] >= TARGETS["chord_majmin_accuracy"],
        "key_accuracy": g["key_accuracy"] >= TARGETS["key_accuracy"],
        "tempo_error": g["tempo_error"] <= TARGETS["tempo_error"],
        "beat_f_measure": g["beat_f_measure"] >= TARGETS["beat_f_measure"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="folder for corpus, features, training set, runs (default: a "
                        "temporary one, removed at the end)")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "adherence.json")
    parser.add_argument("--train-tracks", type=int, default=72)
    parser.add_argument("--heldout", type=int, nargs=2, default=(16, 8), metavar=("UNSEEN", "SEEN"),
                        help="held-out tracks with an unseen and with a seen (key, progression) combination")
    parser.add_argument("--guidance", type=float, default=None, help="evaluate's guidance (default: the config's)")
    parser.add_argument("--curve", type=int, nargs="*", default=[500, 1000, 1500],
                        help="earlier checkpoints' steps to evaluate for the curve")
    parser.add_argument("--curve-limit", type=int, default=12, help="held-out segments per curve point")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="extra training-config overrides (for trials; the measured run uses none)")
    args = parser.parse_args()

    from ostinato.datasets.config import load_dataset_config

    dataset_cfg = load_dataset_config(DATASET_CONFIG)
    work = args.work or Path(tempfile.mkdtemp(prefix="adherence-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus, features, trainset = work / "corpus", work / "features", work / "trainset"
    vae_run, ldm_run, logs = work / "runs" / "vae", work / "runs" / "ldm", work / "logs"
    logs.mkdir(exist_ok=True)
    seconds: dict[str, float] = {}
    started = time.monotonic()

    t0 = time.monotonic()
    planned = plan_corpus(n_train=args.train_tracks, n_unseen=args.heldout[0], n_seen=args.heldout[1],
                          seed=args.seed)
    records = write_corpus(corpus, planned, val_share=dataset_cfg.split.val_share, split_seed=dataset_cfg.split.seed)
    seconds["corpus"] = time.monotonic() - t0
    print(f"corpus: {len(records)} tracks ({args.train_tracks} x {TRAIN_SECONDS:g} s train, "
          f"{sum(args.heldout)} x {HELDOUT_SECONDS:g} s held out) in {seconds['corpus']:.0f} s", flush=True)

    overrides = tuple(args.overrides)
    seconds["analyze"] = run(ostinato("analyze", corpus, features, config=ANALYZE_CONFIG), log=logs / "analyze.log")
    seconds["build_dataset"] = run(ostinato("build-dataset", features, trainset, config=DATASET_CONFIG),
                                   log=logs / "build-dataset.log")
    seconds["train_vae"] = run(ostinato("train-vae", trainset, vae_run, config=TRAIN_CONFIG, overrides=overrides),
                               log=logs / "train-vae.log")
    t0 = time.monotonic()
    autoencoded = vae_ceiling(trainset, vae_run, limit=sum(args.heldout))
    seconds["vae_ceiling"] = time.monotonic() - t0
    print("  VAE round trip of the held-out mels:", ", ".join(f"{m} {v:.3f}" for m, v in autoencoded.items()),
          flush=True)
    seconds["train"] = run(ostinato("train", trainset, vae_run, ldm_run, config=TRAIN_CONFIG, overrides=overrides),
                           log=logs / "train.log")

    n_heldout = sum(args.heldout)
    guidance = () if args.guidance is None else ("--guidance", str(args.guidance))
    saved = checkpoints(ldm_run)
    final_step = max(saved)
    t0 = time.monotonic()
    final_out = work / "evaluate" / f"step{final_step}"
    run(ostinato("evaluate", saved[final_step], trainset, final_out, options=("--limit", str(n_heldout), *guidance)),
        log=logs / "evaluate.log")
    seconds["evaluate"] = time.monotonic() - t0
    report = json.loads((final_out / "evaluate.json").read_text())

    t0 = time.monotonic()
    curve = []
    for step in sorted(s for s in args.curve if s in saved and s != final_step):
        out = work / "evaluate" / f"step{step}"
        run(ostinato("evaluate", saved[step], trainset, out, options=("--limit", str(args.curve_limit), *guidance)),
            log=logs / f"evaluate-{step}.log")
        point = json.loads((out / "evaluate.json").read_text())
        curve.append({"step": step, "n_segments": point["n_segments"], "means": point["means"]})
    if curve:
        segments = set(report["segments"][: args.curve_limit])
        rows = [r for r in report["per_segment"] if r["segment_id"] in segments]
        curve.append({"step": final_step, "n_segments": len(rows), "means": {
            run_name: {m: _nanmean([r[run_name][m] for r in rows]) for m in METRICS}
            for run_name in ("guided", "unconditional", "reference")}})
    seconds["curve"] = time.monotonic() - t0
    seconds["total"] = time.monotonic() - started

    groups = {r["track_id"]: r["group"] for r in records if r["split"] == "val"}
    by_group = group_means(report, groups)
    passed = acceptance(report["means"])
    print(f"\n{report['n_segments']} held-out condition sets, checkpoint step {final_step}, guidance "
          f"{report['guidance_scale']:g}, {report['steps']} DDIM steps")
    print(table(report["means"], autoencoded))
    for group, means in by_group.items():
        print(f"\n{group} (key, progression) combinations: {means['n_segments']} segments")
        print(table(means))
    if curve:
        print("\ncurve (first", args.curve_limit, "held-out segments): step  root guided/uncond  majmin  key  beat F")
        for point in curve:
            g, u = point["means"]["guided"], point["means"]["unconditional"]
            print(f"  {point['step']:>5}  {g['chord_root_accuracy']:.3f}/{u['chord_root_accuracy']:.3f}  "
                  f"{g['chord_majmin_accuracy']:.3f}  {g['key_accuracy']:.3f}  {g['beat_f_measure']:.3f}")
    print("\nacceptance:", ", ".join(f"{m} {'met' if ok else 'NOT met'}" for m, ok in passed.items()))
    print("seconds:", ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))

    card = json.loads((trainset / "_trainset.json").read_text())
    result = {
        "command": "python bench/adherence.py" + "".join(f" --set {o}" for o in args.overrides),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "configs": {"analyze": str(ANALYZE_CONFIG.relative_to(REPO)), "dataset": str(DATASET_CONFIG.relative_to(REPO)),
                    "train": str(TRAIN_CONFIG.relative_to(REPO)), "overrides": list(args.overrides)},
        "corpus": {"train_tracks": args.train_tracks, "train_seconds": TRAIN_SECONDS,
                   "heldout_unseen": args.heldout[0], "heldout_seen": args.heldout[1],
                   "heldout_seconds": HELDOUT_SECONDS, "keys": 24,
                   "progressions": len(MAJOR_PROGRESSIONS) + len(MINOR_PROGRESSIONS), "timbres": list(TIMBRE_NAMES)},
        "trainset_splits": card.get("splits"),
        "heldout": [r for r in records if r["split"] == "val"],
        "train_combos": sorted({r["combo"] for r in records if r["split"] == "train"}),
        "checkpoint_step": final_step,
        "guidance_scale": report["guidance_scale"],
        "sampling_steps": report["steps"],
        "n_segments": report["n_segments"],
        "means": report["means"],
        "vae_round_trip": autoencoded,
        "conditioning_effect": report["conditioning_effect"],
        "by_group": by_group,
        "curve": curve,
        "targets": TARGETS,
        "acceptance": passed,
        "seconds": seconds,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(f"wrote {args.json}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
