"""Benchmark of the harmony theory against human Roman-numeral analyses of Bach chorales.

music21's corpus ships 20 Riemenschneider chorales with human analyses (``bach/choraleAnalyses/*.rntxt``,
by Andrew Jones, proofread by Tymoczko and Robb). Each is paired with its chorale score (through music21's
Riemenschneider-BWV list); where the corpus edition is transposed the analysis is moved to the edition's
key signature, and a pair whose lengths differ (BWV 41.6: the corpus score has instrumental bars the
analysis lacks) is excluded and listed. Each pair is scored:

* **symbolic** (our ``theory.symbolic`` on the score's exact notes): agreement with the human analysis,
  sampled every eighth note, of the chord root + triad quality, of the full chord (root, every pitch class
  and the bass), and of the exact Roman figure (which also needs the local key right); global key accuracy
  and mir_eval's weighted key score; local-key agreement; cadences: at each fermata (the chorale's phrase
  ends) the human numerals' last two chords are typed by our cadence rules, and we count how many of those
  cadences we report within a beat of the human goal chord, and with the same type. Baseline: music21's
  own chordify + chord root and quality per slice, and its ``analyze('key')``.
* **audio** (the chorale rendered by ``ostinato.demo.synth`` at a known tempo, 72-108 BPM, then our
  ``describe_track`` + harmony stage, as ``ostinato analyze`` runs them): mir_eval key weighted score, chord
  majmin WCSR (reference = the human chords), beat F-measure (reference = the score's beats), Roman root +
  quality, full chord (with the bass from ``estimate_bass_chroma``) and exact figure agreement. Baseline
  in the same run: librosa defaults (``chroma_cqt`` averaged per ``beat_track`` beat, 24 binary triad
  templates, Krumhansl-Kessler key), read by the same ``roman_numerals``.
* **speed**: seconds of the theory stage (``analyze_harmony``) over seconds of ``describe_track``, summed
  over tracks, after one warm-up track (an analysis worker keeps music21's parsed figures cached across
  tracks); the target is at most 0.20.

Usage: python bench/theory.py [--chorales 6 | --all] [--json bench/results/theory.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SR = 22050
TEMPOS = (72.0, 84.0, 96.0, 108.0)
TARGETS = {
    "symbolic_root_quality": 0.75,
    "audio_chord_majmin_wcsr": 0.75,
    "audio_beat_f_measure": 0.90,
    "audio_key_weighted": 0.95,
    "audio_roman_root_quality": 0.60,
    "theory_time_ratio_max": 0.20,
}
_TRIAD = {"maj": "major", "7": "major", "maj7": "major", "min": "minor", "min7": "minor", "dim": "diminished",
          "hdim7": "diminished", "dim7": "diminished", "aug": "augmented"}


@dataclass(frozen=True)
class HumanChord:
    """One chord of a human analysis; times in quarter notes from the start of the score."""

    start_ql: float
    end_ql: float
    root_pc: int
    triad: str  # "major" | "minor" | "diminished" | "augmented" | "other"
    pcs: frozenset[int]
    bass_pc: int
    quality: str  # our quality name (CHORD_INTERVALS), or the triad's
    inversion: int
    figure: str
    label: str  # Harte label for mir_eval
    key_tonic_pc: int
    key_mode: str


def _analyses() -> list[tuple[int, Path]]:
    import music21

    folder = Path(music21.__file__).parent / "corpus" / "bach" / "choraleAnalyses"
    files = sorted(folder.glob("riemenschneider*.rntxt"))
    return [(int(re.search(r"(\d+)", f.stem).group(1)), f) for f in files]


def _triad(root: int, pcs: frozenset[int]) -> str:
    rel = {(p - root) % 12 for p in pcs}
    third = 4 if 4 in rel else 3 if 3 in rel else None
    fifth = 7 if 7 in rel else 6 if 6 in rel else 8 if 8 in rel else None
    return {(4, 7): "major", (3, 7): "minor", (3, 6): "diminished", (4, 8): "augmented"}.get((third, fifth), "other")


def human_chords(path: Path, *, transpose: int = 0) -> tuple[list[HumanChord], float]:
    """The analysis' chords moved up ``transpose`` semitones, and the analysis' length in quarter notes."""
    from music21 import converter

    from ostinato.analysis.tonal import PITCH_CLASSES
    from ostinato.demo.synth import CHORD_INTERVALS

    by_intervals = {frozenset(v): k for k, v in CHORD_INTERVALS.items()}
    analysis = converter.parse(str(path), format="romantext")
    numerals = list(analysis.flatten().getElementsByClass("RomanNumeral"))
    out = []
    for i, rn in enumerate(numerals):
        start = float(rn.offset)
        end = float(numerals[i + 1].offset) if i + 1 < len(numerals) else float(analysis.highestTime)
        if end <= start:
            continue
        root = (rn.root().pitchClass + transpose) % 12
        pcs = frozenset((p + transpose) % 12 for p in rn.pitchClasses)
        triad = _triad(root, pcs)
        quality = by_intervals.get(frozenset((p - root) % 12 for p in pcs))
        quality = quality or {"major": "maj", "minor": "min", "diminished": "dim", "augmented": "aug"}.get(triad)
        label = f"{PITCH_CLASSES[root]}:{quality}" if quality else "X"
        bass = (rn.bass().pitchClass + transpose) % 12
        intervals = CHORD_INTERVALS.get(quality or "", ())
        inversion = intervals.index((bass - root) % 12) if (bass - root) % 12 in intervals else 0
        out.append(HumanChord(start, end, root, triad, pcs, bass, quality or "N", inversion,
                              _normal_figure(rn.figure), label, (rn.key.tonic.pitchClass + transpose) % 12,
                              rn.key.mode))
    return out, float(analysis.highestTime)


def _edition_transposition(score, human: list[HumanChord]) -> int:
    """Semitones from the analysis to the corpus edition (BWV 184.5 is in D in the corpus, analysed in G;
    BWV 145.5 in F# minor, analysed in E minor): the rotation that best correlates the analysis' chord-tone
    durations with the score's note durations per pitch class (neither uses our estimators)."""
    from music21 import chord as m21chord

    notes = np.zeros(12)
    for n in score.flatten().notes:
        for p in n.pitches if isinstance(n, m21chord.Chord) else [n.pitch]:
            notes[p.pitchClass] += float(n.quarterLength)
    tones = np.zeros(12)
    for h in human:
        for pc in h.pcs:
            tones[pc] += h.end_ql - h.start_ql
    fits = [np.corrcoef(np.roll(tones, t), notes)[0, 1] for t in range(12)]
    return int(np.argmax(fits))


def _normal_figure(figure: str) -> str:
    """Human and our figures in one spelling: ``6/5`` -> ``65``, ``/o7`` -> ``ø7``, ``V2`` -> ``V42``."""
    figure = figure.replace("/o", "ø")
    figure = re.sub(r"(\d)/(\d)", r"\1\2", figure)
    return re.sub(r"(?<![\d])2(?=$|/)", "42", figure)


def load_chorale(number: int, *, bpm: float):
    """The chorale score with one metronome mark at ``bpm`` (quarter notes per minute)."""
    from music21 import corpus, tempo
    from music21.corpus import chorales

    bwv = chorales.ChoraleListRKBWV().byRiemenschneider[number]["bwv"]
    score = corpus.parse(f"bach/bwv{bwv}")
    for mark in list(score.recurse().getElementsByClass(tempo.MetronomeMark)):
        mark.activeSite.remove(mark)
    score.parts[0].insert(0, tempo.MetronomeMark(number=bpm))
    return score, str(bwv)


def _at(times: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Index of the span holding each time, -1 where none does."""
    idx = np.searchsorted(starts, times, side="right") - 1
    ok = (idx >= 0) & (times < ends[np.clip(idx, 0, None)])
    return np.where(ok, idx, -1)


def _sample_agreement(human: list[HumanChord], grid_ql: np.ndarray, ours: list[tuple[float, float, object]],
                      beat_s: float, same) -> float:
    """Share of grid points (quarter notes) where ``same(human_chord, our_item)`` holds."""
    h_idx = _at(grid_ql, np.array([h.start_ql for h in human]), np.array([h.end_ql for h in human]))
    starts = np.array([o[0] for o in ours]) if ours else np.zeros(0)
    ends = np.array([o[1] for o in ours]) if ours else np.zeros(0)
    o_idx = _at(grid_ql * beat_s, starts, ends) if ours else np.full(len(grid_ql), -1)
    hits = [same(human[i], ours[j][2]) for i, j in zip(h_idx, o_idx, strict=True) if i >= 0 and j >= 0]
    counted = int(np.sum(h_idx >= 0))
    return float(np.sum(hits)) / counted if counted else float("nan")


def _roman_root_quality(h: HumanChord, r) -> bool:
    return r.root_pc == h.root_pc and _TRIAD.get(r.quality, "other") == h.triad


def _full_chord(h: HumanChord, r) -> bool:
    from ostinato.theory.voice_leading import chord_pitch_classes

    bass = (r.root_pc + _interval(r)) % 12  # the root when in root position or the bass is unknown
    return r.root_pc == h.root_pc and chord_pitch_classes(r) == h.pcs and bass == h.bass_pc


def _interval(r) -> int:
    from ostinato.demo.synth import CHORD_INTERVALS

    return CHORD_INTERVALS[r.quality][r.inversion] if r.quality in CHORD_INTERVALS else 0


def fermata_ends_ql(score) -> list[float]:
    """Quarter-note times at which the score's fermata notes end: the chorale's phrase ends."""
    from music21 import expressions

    ends = {float(n.offset + n.quarterLength) for n in score.flatten().notes
            if any(isinstance(e, expressions.Fermata) for e in n.expressions)}
    return sorted(ends)


def human_cadences(human: list[HumanChord], ends_ql: list[float]) -> list[tuple[float, str]]:
    """(goal start in quarter notes, type) of the human analysis' cadence at each phrase end, where its last
    two chords make one under ``theory.cadences.classify_cadence`` (same rules as ours)."""
    from ostinato.theory.cadences import classify_cadence
    from ostinato.theory.progressions import FAMILY

    def as_chord(h: HumanChord):
        return _Read(h.root_pc, h.quality, h.inversion, h.key_tonic_pc, h.key_mode)

    out = []
    for end in ends_ql:
        goal = max((i for i, h in enumerate(human) if h.start_ql < end - 1e-6), default=None)
        if goal is None:
            continue
        i = goal
        while i > 0 and (human[i - 1].root_pc, FAMILY.get(human[i - 1].quality)) == (
                human[goal].root_pc, FAMILY.get(human[goal].quality)):
            i -= 1
        j = i - 1
        if j < 0:
            continue
        kind = classify_cadence(as_chord(human[j]), as_chord(human[i]))
        if kind is not None:
            out.append((human[i].start_ql, kind))
    return out


@dataclass(frozen=True)
class _Read:
    root_pc: int
    quality: str
    inversion: int
    tonic_pc: int
    mode: str


def _cadence_agreement(reference: list[tuple[float, str]], cadences, beat_s: float) -> dict[str, float]:
    """Share of the human phrase-end cadences we report (any type, goal within a beat) and with the same type."""
    found = typed = 0
    for start_ql, kind in reference:
        near = [c for c in cadences if abs(c.time_s - start_ql * beat_s) <= beat_s]
        found += bool(near)
        typed += any(c.type == kind for c in near)
    n = len(reference)
    return {"cadence_found": found / n if n else float("nan"), "cadence_type": typed / n if n else float("nan")}


def _key_score(ref_tonic: int, ref_mode: str, tonic: int, mode: str) -> float:
    import mir_eval

    from ostinato.analysis.tonal import PITCH_CLASSES

    return float(mir_eval.key.weighted_score(f"{PITCH_CLASSES[ref_tonic]} {ref_mode}",
                                             f"{PITCH_CLASSES[tonic]} {mode}"))


def symbolic_scores(score, human: list[HumanChord], bpm: float) -> dict[str, float]:
    """Our score analysis and music21's chordify baseline against the human analysis."""
    from ostinato.theory.harmony import analyze_harmony
    from ostinato.theory.symbolic import describe_score

    beat_s = 60.0 / bpm
    description = describe_score(score)
    key = description.key
    harmony = analyze_harmony(description.chords, tonic_pc=key.tonic_pc, mode=key.mode,
                              downbeat_times=description.downbeat_times, phrase_ends=description.phrase_ends)
    grid = np.arange(0.25, human[-1].end_ql, 0.5)  # eighth-note cell centres, clear of onset jitter
    ours = [(r.start_s, r.end_s, r) for r in harmony.roman if r.root_pc >= 0]
    region = [(k.start_s, k.end_s, k) for k in harmony.local_keys]
    ref = human[0]
    m21 = _music21_baseline(score, human, grid)
    reference_cadences = human_cadences(human, fermata_ends_ql(score))
    return {
        **_cadence_agreement(reference_cadences, harmony.cadences, beat_s),
        "reference_cadences": float(len(reference_cadences)),
        "root_quality": _sample_agreement(human, grid, ours, beat_s, _roman_root_quality),
        "full_chord": _sample_agreement(human, grid, ours, beat_s, _full_chord),
        "figure_exact": _sample_agreement(human, grid, ours, beat_s, lambda h, r: _normal_figure(r.figure) == h.figure),
        "local_key": _sample_agreement(human, grid, region, beat_s,
                                       lambda h, k: (k.tonic_pc, k.mode) == (h.key_tonic_pc, h.key_mode)),
        "key_correct": float((key.tonic_pc, key.mode) == (ref.key_tonic_pc, ref.key_mode)),
        "key_weighted": _key_score(ref.key_tonic_pc, ref.key_mode, key.tonic_pc, key.mode),
        "cadences": float(len(harmony.cadences)),
        "baseline_music21_root_quality": m21["root_quality"],
        "baseline_music21_key_correct": m21["key_correct"],
    }


def _music21_baseline(score, human: list[HumanChord], grid: np.ndarray) -> dict[str, float]:
    """music21 defaults: chordify slices, each slice's root and quality; Krumhansl key via analyze('key')."""
    slices = list(score.chordify().flatten().getElementsByClass("Chord"))
    starts = np.array([float(c.offset) for c in slices])
    ends = starts + np.array([float(c.quarterLength) for c in slices])
    h_idx = _at(grid, np.array([h.start_ql for h in human]), np.array([h.end_ql for h in human]))
    c_idx = _at(grid, starts, ends)
    hits, counted = 0, 0
    for i, j in zip(h_idx, c_idx, strict=True):
        if i < 0:
            continue
        counted += 1
        if j >= 0:
            c = slices[j]
            hits += c.root().pitchClass == human[i].root_pc and c.quality == human[i].triad
    key = score.analyze("key")
    ref = human[0]
    return {"root_quality": hits / counted if counted else float("nan"),
            "key_correct": float((key.tonic.pitchClass, key.mode) == (ref.key_tonic_pc, ref.key_mode))}


def render(score, bpm: float) -> np.ndarray:
    from ostinato.demo.synth import render_notes
    from ostinato.testing.scores import score_notes

    notes = score_notes(score, bpm=bpm)
    end = max(n.onset_s + n.duration_s for n in notes)
    return render_notes(notes, sr=SR, total_s=end + 1.0, decay_per_s=1.0)


def _reference_beats(score, bpm: float) -> np.ndarray:
    from ostinato.theory.symbolic import describe_score

    return np.array([b.time_s for b in describe_score(score).beats])


def _chord_wcsr(human: list[HumanChord], beat_s: float, chords) -> float:
    import mir_eval

    ref_iv = np.array([[h.start_ql * beat_s, h.end_ql * beat_s] for h in human])
    ref_lab = [h.label for h in human]
    est_iv = np.array([[c.start_s, c.end_s] for c in chords])
    est_lab = [c.label for c in chords]
    est_iv, est_lab = mir_eval.util.adjust_intervals(est_iv, est_lab, ref_iv.min(), ref_iv.max(), "N", "N")
    merged, ref_l, est_l = mir_eval.util.merge_labeled_intervals(ref_iv, ref_lab, est_iv, est_lab)
    durations = mir_eval.util.intervals_to_durations(merged)
    return float(mir_eval.chord.weighted_accuracy(mir_eval.chord.majmin(ref_l, est_l), durations))


#: describe_track options of the run (``--dsp`` selects the methods without pretrained models).
DESCRIBE_OPTIONS: dict[str, str] = {}


def audio_scores(score, human: list[HumanChord], bpm: float) -> dict[str, float]:
    """Ours (describe_track + harmony stage) and the librosa baseline on the rendered chorale."""
    import mir_eval

    from ostinato.analysis.describe import describe_track
    from ostinato.pipelines.stages import harmony_of

    beat_s = 60.0 / bpm
    y = render(score, bpm)
    t0 = time.perf_counter()
    description = describe_track(y, sr=SR, **DESCRIBE_OPTIONS)
    t1 = time.perf_counter()
    harmony = harmony_of(description)
    t2 = time.perf_counter()
    harmony_of(description)  # again, with every figure of this track cached
    t3 = time.perf_counter()
    ref_beats = mir_eval.beat.trim_beats(_reference_beats(score, bpm))
    grid = np.arange(0.25, human[-1].end_ql, 0.5)  # eighth-note cell centres, clear of onset jitter
    ref = human[0]
    key = description.key
    ours = [(r.start_s, r.end_s, r) for r in harmony.roman if r.root_pc >= 0]
    out = {
        **_cadence_agreement(human_cadences(human, fermata_ends_ql(score)), harmony.cadences, beat_s),
        "key_weighted": _key_score(ref.key_tonic_pc, ref.key_mode, key.tonic_pc, key.mode),
        "chord_majmin_wcsr": _chord_wcsr(human, beat_s, description.chords),
        "beat_f_measure": float(mir_eval.beat.f_measure(
            ref_beats, mir_eval.beat.trim_beats(np.asarray(description.beats.beat_times)))),
        "roman_root_quality": _sample_agreement(human, grid, ours, beat_s, _roman_root_quality),
        "full_chord": _sample_agreement(human, grid, ours, beat_s, _full_chord),
        "figure_exact": _sample_agreement(human, grid, ours, beat_s, lambda h, r: _normal_figure(r.figure) == h.figure),
        "describe_s": t1 - t0,
        "theory_s": t2 - t1,
        "theory_warm_s": t3 - t2,
        "duration_s": len(y) / SR,
    }
    base = _librosa_baseline(y, human, beat_s, grid)
    out.update({f"baseline_librosa_{k}": v for k, v in base.items()})
    out["baseline_librosa_beat_f_measure"] = float(mir_eval.beat.f_measure(ref_beats, mir_eval.beat.trim_beats(
        base.pop("beats"))))
    del out["baseline_librosa_beats"]
    return out


_KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def _librosa_baseline(y: np.ndarray, human: list[HumanChord], beat_s: float, grid: np.ndarray) -> dict:
    """librosa defaults: chroma_cqt, beat_track, per-beat mean chroma against 24 binary triads; K-S key."""
    import librosa

    from ostinato.analysis.tonal import ChordSegment
    from ostinato.theory.roman import roman_numerals

    chroma = librosa.feature.chroma_cqt(y=y, sr=SR)
    _, beat_frames = librosa.beat.beat_track(y=y, sr=SR)
    beats = librosa.frames_to_time(beat_frames, sr=SR)
    beat_frames = beat_frames[(beat_frames > 0) & (beat_frames < chroma.shape[1])]
    synced = librosa.util.sync(chroma, beat_frames, aggregate=np.mean)  # pads: [0, b0), ..., [b_last, n)
    times = librosa.frames_to_time(np.concatenate([[0], beat_frames, [chroma.shape[1]]]), sr=SR)
    templates, names = [], []
    for quality, intervals in (("maj", (0, 4, 7)), ("min", (0, 3, 7))):
        for root in range(12):
            t = np.zeros(12)
            t[[(root + i) % 12 for i in intervals]] = 1.0
            templates.append(t / np.linalg.norm(t))
            names.append((root, quality))
    templates = np.stack(templates)
    chords = []
    for k in range(min(synced.shape[1], len(times) - 1)):
        v = synced[:, k]
        root, quality = names[int(np.argmax(templates @ (v / (np.linalg.norm(v) + 1e-9))))]
        chords.append(ChordSegment(float(times[k]), float(times[k + 1]), root, quality))
    profile = chroma.mean(axis=1)
    scores = [(np.corrcoef(profile, np.roll(p, t))[0, 1], t, mode)
              for mode, p in (("major", _KK_MAJOR), ("minor", _KK_MINOR)) for t in range(12)]
    _, tonic, mode = max(scores)
    ref = human[0]
    roman = roman_numerals(chords, tonic_pc=tonic, mode=mode)
    ours = [(r.start_s, r.end_s, r) for r in roman]
    return {
        "key_weighted": _key_score(ref.key_tonic_pc, ref.key_mode, tonic, mode),
        "chord_majmin_wcsr": _chord_wcsr(human, beat_s, chords),
        "roman_root_quality": _sample_agreement(human, grid, ours, beat_s, _roman_root_quality),
        "beats": beats,
    }


def _warm_up() -> None:
    """Fill the per-process caches (music21 figure parsing, numba) as a long-running worker has them."""
    from ostinato.analysis.describe import describe_track
    from ostinato.pipelines.stages import harmony_of

    number, path = _analyses()[-1]
    score, _ = load_chorale(number, bpm=90.0)
    harmony_of(describe_track(render(score, 90.0), sr=SR, **DESCRIBE_OPTIONS))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chorales", type=int, default=6, help="how many chorales (from Riemenschneider 1)")
    parser.add_argument("--all", action="store_true", help="every chorale with a human analysis (20)")
    parser.add_argument("--json", default=str(HERE / "results" / "theory.json"))
    parser.add_argument("--dsp", action="store_true",
                        help="beats, key and chord chroma without pretrained models (features.*=dsp/profile)")
    args = parser.parse_args(argv)
    if args.dsp:
        DESCRIBE_OPTIONS.update(beat_tracker="dsp", key_estimator="profile", chord_chroma="dsp")
    analyses = _analyses()
    if not analyses:
        print("music21's corpus has no bach/choraleAnalyses/*.rntxt here", file=sys.stderr)
        return 1
    chosen = analyses if args.all else analyses[: args.chorales]
    _warm_up()
    per_chorale = []
    excluded = []
    for i, (number, path) in enumerate(chosen):
        bpm = TEMPOS[i % len(TEMPOS)]
        score, bwv = load_chorale(number, bpm=bpm)
        human, length_ql = human_chords(path)
        transpose = _edition_transposition(score, human)
        if transpose:
            human, _ = human_chords(path, transpose=transpose)
        if abs(length_ql - float(score.highestTime)) > 2.0:
            reason = f"analysis spans {length_ql:g} quarter notes, the corpus score {float(score.highestTime):g}"
            excluded.append({"riemenschneider": number, "bwv": bwv, "reason": reason})
            print(f"R{number:03d} BWV {bwv:<10} excluded: {reason}", flush=True)
            continue
        symbolic = symbolic_scores(score, human, bpm)
        audio = audio_scores(score, human, bpm)
        per_chorale.append({"riemenschneider": number, "bwv": bwv, "bpm": bpm, "analysis_transposed_by": transpose,
                            "symbolic": symbolic, "audio": audio})
        print(f"R{number:03d} BWV {bwv:<10} {bpm:5.0f} BPM  symbolic root+q {symbolic['root_quality']:.2f} "
              f"key {symbolic['key_correct']:.0f} | audio majmin {audio['chord_majmin_wcsr']:.2f} "
              f"beatF {audio['beat_f_measure']:.2f} key {audio['key_weighted']:.2f} "
              f"roman {audio['roman_root_quality']:.2f} theory/describe {audio['theory_s'] / audio['describe_s']:.3f}",
              flush=True)

    def mean(part: str, name: str) -> float:
        return float(np.nanmean([c[part][name] for c in per_chorale]))

    summary = {
        "symbolic_root_quality": mean("symbolic", "root_quality"),
        "symbolic_full_chord": mean("symbolic", "full_chord"),
        "symbolic_figure_exact": mean("symbolic", "figure_exact"),
        "symbolic_local_key": mean("symbolic", "local_key"),
        "symbolic_key_accuracy": mean("symbolic", "key_correct"),
        "symbolic_key_weighted": mean("symbolic", "key_weighted"),
        "symbolic_cadence_found": mean("symbolic", "cadence_found"),
        "symbolic_cadence_type": mean("symbolic", "cadence_type"),
        "baseline_music21_symbolic_root_quality": mean("symbolic", "baseline_music21_root_quality"),
        "baseline_music21_symbolic_key_accuracy": mean("symbolic", "baseline_music21_key_correct"),
        "audio_key_weighted": mean("audio", "key_weighted"),
        "audio_chord_majmin_wcsr": mean("audio", "chord_majmin_wcsr"),
        "audio_beat_f_measure": mean("audio", "beat_f_measure"),
        "audio_roman_root_quality": mean("audio", "roman_root_quality"),
        "audio_full_chord": mean("audio", "full_chord"),
        "audio_figure_exact": mean("audio", "figure_exact"),
        "audio_cadence_found": mean("audio", "cadence_found"),
        "audio_cadence_type": mean("audio", "cadence_type"),
        "baseline_librosa_audio_key_weighted": mean("audio", "baseline_librosa_key_weighted"),
        "baseline_librosa_audio_chord_majmin_wcsr": mean("audio", "baseline_librosa_chord_majmin_wcsr"),
        "baseline_librosa_audio_beat_f_measure": mean("audio", "baseline_librosa_beat_f_measure"),
        "baseline_librosa_audio_roman_root_quality": mean("audio", "baseline_librosa_roman_root_quality"),
        "theory_time_ratio": float(sum(c["audio"]["theory_s"] for c in per_chorale)
                                   / sum(c["audio"]["describe_s"] for c in per_chorale)),
        "theory_time_ratio_warm": float(sum(c["audio"]["theory_warm_s"] for c in per_chorale)
                                        / sum(c["audio"]["describe_s"] for c in per_chorale)),
    }
    print("\nmetric                               ours    baseline  target")
    rows = [
        ("symbolic root+quality", "symbolic_root_quality", "baseline_music21_symbolic_root_quality"),
        ("symbolic full chord (pcs+bass)", "symbolic_full_chord", None),
        ("symbolic exact figure", "symbolic_figure_exact", None),
        ("symbolic local key", "symbolic_local_key", None),
        ("symbolic key accuracy", "symbolic_key_accuracy", "baseline_music21_symbolic_key_accuracy"),
        ("symbolic phrase-end cadences found", "symbolic_cadence_found", None),
        ("  ... with the human type", "symbolic_cadence_type", None),
        ("audio key weighted", "audio_key_weighted", "baseline_librosa_audio_key_weighted"),
        ("audio chord majmin WCSR", "audio_chord_majmin_wcsr", "baseline_librosa_audio_chord_majmin_wcsr"),
        ("audio beat F-measure", "audio_beat_f_measure", "baseline_librosa_audio_beat_f_measure"),
        ("audio Roman root+quality", "audio_roman_root_quality", "baseline_librosa_audio_roman_root_quality"),
        ("audio full chord (pcs+bass)", "audio_full_chord", None),
        ("audio exact figure", "audio_figure_exact", None),
        ("audio phrase-end cadences found", "audio_cadence_found", None),
        ("  ... with the human type", "audio_cadence_type", None),
        ("theory time / describe time", "theory_time_ratio", None),
        ("  same, figures cached", "theory_time_ratio_warm", None),
    ]
    for label, ours, base in rows:
        target = TARGETS.get(ours, TARGETS.get("theory_time_ratio_max") if ours == "theory_time_ratio" else None)
        print(f"{label:<36} {summary[ours]:6.3f}  {summary[base] if base else float('nan'):8.3f}  "
              f"{'' if target is None else ('<=' if ours == 'theory_time_ratio' else '>=') + f' {target:.2f}'}")
    result = {"chorales": len(per_chorale), "sample_rate": SR, "summary": summary, "targets": TARGETS,
              "per_chorale": per_chorale, "excluded": excluded, "cpu_count": os.cpu_count()}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
