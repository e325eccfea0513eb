"""Benchmark: what separated stems give the analysis, on demo tracks whose true stems are known.

Each configuration runs the describe stage of `ostinato analyze` (``stages.describe``, default features) on
the same decoded MP3s of demo tracks, remixed with the gains asked for (--lead-db, --drums-db: the demo
mix as it is reads at the ceiling, 0.99 of chords and all beats, with or without stems); only the stems
handed to it differ:

  mix      separation off.
  tiny     stems from the tiny random-weight HTDemucs through the real path (``load_separator`` ->
           ``stages.separate`` -> ``StemAccumulator``). Its stems are noise, so this is the path's cost and
           what meaningless stems do, not a gain.
  ideal    the rendered stems as a perfect separator would return them (drums; bass; keys as "other";
           the lead as "vocals", a sung melody, or with --lead-source other as "other", an instrumental
           one), fed to ``StemAccumulator`` in 10 s chunks like the separator's: the ceiling of what
           separation can give.
  leaky    each ideal stem plus the rest of the mix at --leak-db below it: an imperfect separator. The
           mean SDR of its stems is printed; htdemucs measures about 9 dB on MUSDB18-HQ (its paper).

Scores: chords majmin (mir_eval WCSR); chord bass (share of the time the chord's bass is the true chord's
root: the demo's chords are all in root position, so this measures the inversions read); beat F-measure,
downbeat F-measure, tempo within 4 %, meter, key weighted.

Usage: python bench/stems.py [--tracks 12 --seconds 24 --leak-db 12 --lead-db 9 --drums-db 6
                              --lead-source vocals] [--json bench/results/stems.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SOURCES = ("drums", "bass", "other", "vocals")
CHUNK_S = 10.0


def _as_separator_output(stems: dict[str, np.ndarray], lead_source: str) -> np.ndarray:
    """The demo stems as Demucs' four sources, (4, 2, n): keys are "other", the lead ``lead_source``."""
    silent = np.zeros_like(stems["drums"])
    if lead_source == "vocals":
        return np.stack([stems["drums"], stems["bass"], stems["keys"], stems["lead"]])
    return np.stack([stems["drums"], stems["bass"], stems["keys"] + stems["lead"], silent])


def _remix(stems: dict[str, np.ndarray], gains_db: dict[str, float]) -> dict[str, np.ndarray]:
    """The stems with the given gains, scaled together so that their mix peaks at the demo's level."""
    from ostinato.demo import MIX_PEAK

    scaled = {name: y * 10.0 ** (gains_db.get(name, 0.0) / 20.0) for name, y in stems.items()}
    peak = float(np.max(np.abs(sum(scaled.values()))))
    return {name: (y * (MIX_PEAK / peak)).astype(np.float32) for name, y in scaled.items()}


def _leak(sources: np.ndarray, leak_db: float) -> tuple[np.ndarray, float]:
    """Each source plus the rest of the mix ``leak_db`` below, and the mean SDR (dB) of the non-silent ones."""
    mix = sources.sum(axis=0)
    gain = 10.0 ** (-leak_db / 20.0)
    leaky = sources + gain * (mix[None] - sources)
    sdrs = [10 * np.log10(np.sum(s**2) / np.sum((e - s) ** 2)) for s, e in zip(sources, leaky, strict=True)
            if np.sum(s**2) > 0]
    return leaky.astype(np.float32), float(np.mean(sdrs))


def _accumulate(sources: np.ndarray, *, sr: int, config):
    from ostinato.analysis.stems import StemAccumulator
    from ostinato.pipelines.stages import SeparationOutcome, needs_stem_signals

    start = time.perf_counter()
    accumulator = StemAccumulator(
        SOURCES, model_sr=sr, analysis_sr=config.decode.sample_rate, hop_length=config.features.hop_length,
        keep_signals=needs_stem_signals(config.features),
    )
    step = int(CHUNK_S * sr)
    for lo in range(0, sources.shape[-1], step):
        accumulator.add(sources[..., lo : lo + step])
    return SeparationOutcome("rendered stems", accumulator.finish(), time.perf_counter() - start)


def _scores(row: dict, truth) -> dict[str, float]:
    import mir_eval

    from ostinato.theory.pitch import PITCH_CLASSES

    ref_iv = np.array([[c.start_s, c.end_s] for c in truth.chords])
    ref_lab = [c.label for c in truth.chords]
    est_iv = np.array([[c["start_s"], c["end_s"]] for c in row["chords"]]).reshape(-1, 2)
    est_lab = [c["label"] for c in row["chords"]]
    est_iv, est_lab = mir_eval.util.adjust_intervals(est_iv, est_lab, ref_iv.min(), ref_iv.max(), "N", "N")
    merged, ref_l, est_l = mir_eval.util.merge_labeled_intervals(ref_iv, ref_lab, est_iv, est_lab)
    chords = mir_eval.chord.weighted_accuracy(mir_eval.chord.majmin(ref_l, est_l),
                                              mir_eval.util.intervals_to_durations(merged))
    hits = total = 0
    for true_chord in truth.chords:  # root position throughout: the bass plays the root on every downbeat
        for t in np.arange(true_chord.start_s + 0.1, true_chord.end_s - 0.1, 0.05):
            chord = next((c for c in row["chords"] if c["start_s"] <= t < c["end_s"]), None)
            hits += chord is not None and chord["bass_pc"] == true_chord.root_pc
            total += 1
    beats = np.array([b["time_s"] for b in row["beats"]])
    downbeats = np.array([b["time_s"] for b in row["beats"] if b["position"] == 1])
    trim = mir_eval.beat.trim_beats
    key = f"{row['key']} {row['mode']}" if row.get("key") else "C major"
    return {
        "chords_majmin": float(chords),
        "chord_bass": hits / total if total else float("nan"),
        "beat_f": float(mir_eval.beat.f_measure(trim(np.array(truth.beat_times)), trim(beats))),
        "downbeat_f": float(mir_eval.beat.f_measure(trim(np.array(truth.downbeat_times)), trim(downbeats))),
        "tempo_4pct": float(abs(row["tempo_bpm"] - truth.bpm) <= 0.04 * truth.bpm),
        "key_weighted": float(mir_eval.key.weighted_score(f"{PITCH_CLASSES[truth.tonic_pc]} {truth.mode}", key)),
        "meter": float(row.get("meter") == truth.meter),
    }


def run(n_tracks: int, seconds: float, leak_db: float, gains_db: dict[str, float], lead_source: str,
        work: Path) -> dict:
    from ostinato.analysis.separation import SeparatorSpec, load_separator
    from ostinato.config import load_config
    from ostinato.demo.corpus import _specs, render_track_stems
    from ostinato.demo.encode import encode_mp3
    from ostinato.pipelines import stages
    from ostinato.pipelines.inputs import list_inputs
    from ostinato.testing.tiny_demucs import build_tiny_htdemucs, save_local_repo

    sr = 44100
    # The demo corpus' specs and random draws (write_demo_corpus with seed 0), remixed.
    rng = np.random.default_rng(0)
    by_file = {}
    (work / "mixes").mkdir()
    for i, spec in enumerate(_specs(n_tracks, rng)):
        truth, stems = render_track_stems(spec, index=i, seconds=seconds, sr=sr, rng=rng)
        stems = _remix(stems, gains_db)
        encode_mp3(sum(stems.values()), sr=sr, path=work / "mixes" / truth.file)
        by_file[truth.file] = (truth, stems)
    save_local_repo(build_tiny_htdemucs(), work / "tiny", name="tiny_htdemucs")
    tiny = load_separator(SeparatorSpec(model="tiny_htdemucs", repo=work / "tiny"))
    config = load_config(None, [])

    systems = ("mix", "tiny", "ideal", "leaky")
    scores: dict[str, list[dict]] = {s: [] for s in systems}
    seconds_spent = dict.fromkeys(systems, 0.0)
    sdrs = []
    for item in list_inputs([str(work / "mixes")]):
        truth, track_stems = by_file[Path(item.uri).name]
        prepared, audio, model_audio = stages.prepare(item, config, model_sr=tiny.samplerate)
        sources = _as_separator_output(track_stems, lead_source)
        leaky, sdr = _leak(sources, leak_db)
        sdrs.append(sdr)
        for name in systems:
            start = time.perf_counter()
            if name == "tiny":
                outcome = stages.separate(tiny, model_audio, track_id=prepared.track_id, model="tiny_htdemucs",
                                          analysis_sr=config.decode.sample_rate,
                                          hop_length=config.features.hop_length)
            else:
                outcome = {"mix": None, "ideal": sources, "leaky": leaky}[name]
                outcome = None if outcome is None else _accumulate(outcome, sr=sr, config=config)
            row = stages.describe(prepared, audio, config=config, stems=outcome)
            seconds_spent[name] += time.perf_counter() - start
            if row["status"] != "ok":
                raise SystemExit(f"{name}: {item.uri}: {row['error']}")
            scores[name].append(_scores(row, truth))
        print(f"  {Path(item.uri).name}: " + "  ".join(
            f"{name} chords {scores[name][-1]['chords_majmin']:.2f} beats {scores[name][-1]['beat_f']:.2f}"
            for name in systems), flush=True)
    audio_s = n_tracks * seconds
    return {
        "tracks": n_tracks,
        "seconds": seconds,
        "leak_db": leak_db,
        "gains_db": gains_db,
        "lead_source": lead_source,
        "leaky_mean_sdr_db": float(np.mean(sdrs)),
        "systems": {
            name: {
                "mean": {k: float(np.mean([s[k] for s in scores[name]])) for k in scores[name][0]},
                "x_realtime": audio_s / seconds_spent[name],
                "per_track": scores[name],
            }
            for name in systems
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=24.0)
    parser.add_argument("--leak-db", type=float, default=12.0)
    parser.add_argument("--lead-db", type=float, default=9.0, help="lead melody gain over the demo mix, dB")
    parser.add_argument("--drums-db", type=float, default=6.0, help="drums gain over the demo mix, dB")
    parser.add_argument("--lead-source", choices=("vocals", "other"), default="vocals")
    parser.add_argument("--json", default="bench/results/stems.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="ostinato-stems-") as tmp:
        gains = {"lead": args.lead_db, "drums": args.drums_db}
        result = run(args.tracks, args.seconds, args.leak_db, gains, args.lead_source, Path(tmp))
    result.update(command="python bench/stems.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  date=time.strftime("%Y-%m-%dT%H:%M:%S%z"), machine=platform.platform(), cores=os.cpu_count())
    print(f"\n{result['tracks']} demo tracks x {result['seconds']:.0f} s, lead {args.lead_db:+.0f} dB as "
          f"{args.lead_source}, drums {args.drums_db:+.0f} dB; leaky stems: "
          f"{result['leak_db']:.0f} dB leakage, mean SDR {result['leaky_mean_sdr_db']:.1f} dB")
    columns = ("chords_majmin", "chord_bass", "beat_f", "downbeat_f", "tempo_4pct", "meter", "key_weighted")
    print(f"{'stems':8s} " + " ".join(f"{c:>13s}" for c in columns) + f" {'x realtime':>11s}")
    for name, system in result["systems"].items():
        print(f"{name:8s} " + " ".join(f"{system['mean'][c]:13.3f}" for c in columns)
              + f" {system['x_realtime']:11.1f}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
