"""Benchmark of the rhythm work: theory-stage cost, and beat tracking through soft onsets and leading silence.

* **speed**: seconds of the theory stage (harmony + rhythm + genre, ``stage_seconds.theory``) over seconds of
  decode + describe of the same tracks in the same run, on demo-corpus MP3s without separation. The issue's
  target is at most 0.20.
* **beats**: mean beat F-measure (mir_eval, untrimmed, so beats in the silence count as false) and tempo
  error on soft-attack pad grooves after 5 s of -60 dBFS hiss, for ``ostinato.analysis.rhythm.track_beats``
  and, as the baseline, ``librosa.beat.beat_track`` with its defaults.

Usage: python bench/rhythm.py [--tracks 4] [--seconds 60] [--json bench/results/rhythm.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def theory_share(n_tracks: int, seconds: float) -> dict:
    from ostinato.config import load_config
    from ostinato.demo import write_demo_corpus
    from ostinato.pipelines import stages
    from ostinato.pipelines.inputs import InputFile

    config = load_config(None, ["separation.enabled=false"])
    totals = {"decode": 0.0, "describe": 0.0, "theory": 0.0}
    with tempfile.TemporaryDirectory() as folder:
        write_demo_corpus(Path(folder), n_tracks=n_tracks, seconds=seconds, seed=1)
        paths = sorted(Path(folder).glob("*.mp3"))
        for path in paths:
            prepared, audio, _ = stages.prepare(InputFile(str(path), path.stat().st_size), config)
            row = stages.describe(prepared, audio, config=config)
            for stage in totals:
                totals[stage] += row["stage_seconds"][stage]
    ratio = totals["theory"] / (totals["decode"] + totals["describe"])
    return {"tracks": len(paths), "seconds_each": seconds, **{f"{k}_s": round(v, 3) for k, v in totals.items()},
            "theory_over_decode_describe": round(ratio, 4)}


def soft_beats() -> dict:
    import mir_eval

    from ostinato.analysis.librosa_import import librosa
    from ostinato.analysis.rhythm import track_beats
    from ostinato.analysis.spectral import compute_frame_features
    from ostinato.testing import grooves

    sr = 22050
    ours, baseline, cases = [], [], []
    t_ours = t_base = 0.0
    for bpm in (72, 100, 130):
        for attack in (0.1, 0.2, 0.3):
            g = grooves.soft_pad_groove(bpm=bpm, beats=32, sr=sr, attack_s=attack)
            start = time.perf_counter()
            f = compute_frame_features(g.y, sr=sr)
            bt = track_beats(onset_envelope=f.onset_envelope, sr=sr, hop_length=f.hop_length, rms=f.rms,
                             chroma=f.chroma)
            t_ours += time.perf_counter() - start
            start = time.perf_counter()
            tempo, beats = librosa.beat.beat_track(y=g.y, sr=sr, units="time")
            t_base += time.perf_counter() - start
            f_ours = mir_eval.beat.f_measure(g.beat_times, bt.beat_times)
            f_base = mir_eval.beat.f_measure(g.beat_times, np.asarray(beats, float))
            ours.append(f_ours)
            baseline.append(f_base)
            cases.append({"bpm": bpm, "attack_s": attack, "ours_bpm": round(bt.tempo_bpm, 2),
                          "ours_f": round(f_ours, 3), "librosa_bpm": round(float(np.atleast_1d(tempo)[0]), 2),
                          "librosa_f": round(f_base, 3)})
    return {"ours_mean_f": round(float(np.mean(ours)), 3), "librosa_mean_f": round(float(np.mean(baseline)), 3),
            "ours_s": round(t_ours, 2), "librosa_s": round(t_base, 2), "cases": cases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--json", default=str(HERE / "results" / "rhythm.json"))
    args = parser.parse_args()
    speed = theory_share(args.tracks, args.seconds)
    print(f"theory stage / (decode + describe) = {speed['theory_over_decode_describe']:.3f} "
          f"over {speed['tracks']} tracks of {speed['seconds_each']:.0f} s (target <= 0.20)")
    beats = soft_beats()
    print(f"soft pads after 5 s of hiss: beat F ours {beats['ours_mean_f']:.3f}, "
          f"librosa defaults {beats['librosa_mean_f']:.3f}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"speed": speed, "soft_beats": beats}, indent=2) + "\n")


if __name__ == "__main__":
    main()
