"""The demo corpus: short multi-instrument MP3s whose key, tempo, meter and chords are known by construction.

``write_demo_corpus(folder)`` writes, for each track, ``<name>.mp3`` (stereo, 128 kbps, gapless) and
``<name>.truth.json``, plus ``truth.json`` listing every track. Each track is drums, a bass line on
the chord roots, keyboard chords (block, arpeggiated or waltz "oom-pah-pah"), and a lead melody
drawn from chord tones, one chord per bar, cycling a Roman-numeral progression realised with music21
in the track's key and voice-led to the nearest voicing. The first beat and downbeat are at 0 s;
chords tile ``[0, seconds]`` exactly (the last one is cut by the end of the file).

The first six tracks are fixed (see ``TRACK_SPECS``); the seed varies the melody and, beyond six
tracks, the key and tempo of the extra ones (specs cycled, transposed, tempo changed by up to 10 %).
The same arguments always give the same bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from music21 import key as m21key
from music21 import roman as m21roman

from ostinato.demo.encode import MP3_SAMPLE_RATES, encode_mp3
from ostinato.demo.synth import CHORD_INTERVALS, NoteEvent, drum_groove, normalize, tone
from ostinato.errors import ConfigError
from ostinato.theory.roman import harmonic_function, key_name

TRUTH_VERSION = 1


@dataclass(frozen=True)
class TrackSpec:
    """What a demo track is made of: key (tonic pitch class, mode), tempo (BPM), meter, progression, keyboard
    style and the timbres of its pitched instruments (a ``TIMBRES`` name)."""

    name: str
    tonic_pc: int
    mode: str
    bpm: float
    beats_per_bar: int
    progression: tuple[str, ...]
    keys_style: str  # "block" | "arpeggio" | "waltz"
    timbre: str = "default"


#: The six fixed tracks of the default corpus.
TRACK_SPECS: tuple[TrackSpec, ...] = (
    TrackSpec("pop_G_major", 7, "major", 120.0, 4, ("I", "V", "vi", "IV"), "block"),
    TrackSpec("ballad_D_major", 2, "major", 96.0, 4, ("vi", "IV", "I", "V"), "arpeggio"),
    TrackSpec("rock_A_minor", 9, "minor", 140.0, 4, ("i", "VII", "VI", "V"), "block"),
    TrackSpec("classic_C_major", 0, "major", 100.0, 4, ("I", "IV", "V", "I"), "arpeggio"),
    TrackSpec("waltz_F_major", 5, "major", 150.0, 3, ("I", "IV", "V7", "I"), "waltz"),
    TrackSpec("soul_Eb_major", 3, "major", 110.0, 4, ("I", "vi", "IV", "V"), "block"),
)

INSTRUMENTS: tuple[str, ...] = ("drums", "bass", "keys", "lead")
#: Partial amplitudes (partial k + 1 at index k) and decay per second of bass, keys and lead, by timbre name.
#: "default" is the fixed corpus's; the others vary the spectra a model of the corpus must see through.
TIMBRES: dict[str, dict[str, tuple[tuple[float, ...], float]]] = {
    "default": {"bass": ((1.0, 0.6, 0.3, 0.15), 1.5), "keys": ((1.0, 0.4, 0.25, 0.1), 2.5),
                "lead": ((1.0, 0.2, 0.45, 0.1, 0.25), 0.8)},
    "organ": {"bass": ((1.0, 0.8, 0.2), 0.5), "keys": ((1.0, 0.7, 0.5, 0.35, 0.25), 0.5),
              "lead": ((1.0, 0.5, 0.3), 0.3)},
    "mellow": {"bass": ((1.0, 0.3), 1.0), "keys": ((1.0, 0.15, 0.05), 2.0), "lead": ((1.0, 0.1, 0.2), 1.2)},
    "bright": {"bass": ((1.0, 0.7, 0.5, 0.3, 0.2), 2.0), "keys": ((1.0, 0.6, 0.45, 0.3, 0.2, 0.1), 3.5),
               "lead": ((1.0, 0.6, 0.4, 0.3, 0.2), 0.6)},
}
_PANS = {"drums": 0.0, "bass": 0.0, "keys": -0.35, "lead": 0.3}  # -1 = left, +1 = right
_GAINS = {"drums": 0.8, "bass": 0.7, "keys": 0.5, "lead": 0.55}
MIX_PEAK = 0.9  # largest absolute sample of a mix


@dataclass(frozen=True)
class ChordTruth:
    """One chord of a track: times in seconds, root pitch class, quality, Harte label, numeral, function."""

    start_s: float
    end_s: float
    root_pc: int
    quality: str
    label: str
    numeral: str
    function: str


@dataclass(frozen=True)
class TrackTruth:
    """Everything known about one demo track. Times in seconds; notes are ``(onset_s, duration_s, midi)``."""

    name: str
    file: str
    duration_s: float
    sr: int
    key: str
    tonic_pc: int
    mode: str
    bpm: float
    meter: str
    beats_per_bar: int
    progression: list[str]
    keys_style: str
    instruments: list[str]
    chords: list[ChordTruth]
    beat_times: list[float]
    downbeat_times: list[float]
    bass_notes: list[tuple[float, float, int]] = field(default_factory=list)
    melody_notes: list[tuple[float, float, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrackTruth:
        d = dict(d)
        d["chords"] = [ChordTruth(**c) for c in d["chords"]]
        d["bass_notes"] = [tuple(n) for n in d.get("bass_notes", [])]
        d["melody_notes"] = [tuple(n) for n in d.get("melody_notes", [])]
        return cls(**d)


@dataclass(frozen=True)
class DemoCorpus:
    """A written demo corpus: its folder, the corpus truth file, and each track's audio and truth paths."""

    folder: Path
    truth_path: Path
    audio_paths: list[Path]
    truth_paths: list[Path]
    tracks: list[TrackTruth]

    @classmethod
    def load(cls, folder: Path) -> DemoCorpus:
        """Read back a corpus written by ``write_demo_corpus`` from its ``truth.json``."""
        folder = Path(folder)
        data = json.loads((folder / "truth.json").read_text())
        tracks = [TrackTruth.from_dict(t) for t in data["tracks"]]
        return cls(
            folder=folder,
            truth_path=folder / "truth.json",
            audio_paths=[folder / t.file for t in tracks],
            truth_paths=[folder / f"{t.name}.truth.json" for t in tracks],
            tracks=tracks,
        )


def write_demo_corpus(
    folder: Path, *, n_tracks: int = 6, seconds: float = 24.0, sr: int = 44100, seed: int = 0
) -> DemoCorpus:
    """Write ``n_tracks`` tracks of ``seconds`` s at ``sr`` Hz into ``folder`` (created if missing).

    Returns the corpus with its paths and truths; see the module docstring for what is written.
    Raises ``ConfigError`` for a bad argument (the CLI passes its options straight through).
    """
    if n_tracks < 1:
        raise ConfigError(f"n_tracks must be at least 1, got {n_tracks}")
    if not seconds > 0:
        raise ConfigError(f"seconds must be positive, got {seconds}")
    if sr not in MP3_SAMPLE_RATES:
        raise ConfigError(f"sr must be one of {MP3_SAMPLE_RATES} Hz, got {sr}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    specs = _specs(n_tracks, rng)
    audio_paths, truth_paths, tracks = [], [], []
    for i, spec in enumerate(specs):
        truth, stereo = render_track(spec, index=i, seconds=seconds, sr=sr, rng=rng)
        audio_paths.append(encode_mp3(stereo, sr=sr, path=folder / truth.file))
        truth_paths.append(folder / f"{truth.name}.truth.json")
        truth_paths[-1].write_text(json.dumps(truth.to_dict(), indent=1) + "\n")
        tracks.append(truth)
    corpus_truth = {
        "version": TRUTH_VERSION,
        "seed": seed,
        "sr": sr,
        "seconds": seconds,
        "tracks": [t.to_dict() for t in tracks],
    }
    truth_path = folder / "truth.json"
    truth_path.write_text(json.dumps(corpus_truth, indent=1) + "\n")
    return DemoCorpus(folder, truth_path, audio_paths, truth_paths, tracks)


def render_track(
    spec: TrackSpec, *, index: int, seconds: float, sr: int, rng: np.random.Generator
) -> tuple[TrackTruth, np.ndarray]:
    """Synthesise one track: its truth and its stereo signal, shape ``(2, round(seconds * sr))``."""
    truth, panned = _render_panned(spec, index=index, seconds=seconds, sr=sr, rng=rng)
    return truth, normalize(sum(panned.values()), peak=MIX_PEAK)


def render_track_stems(
    spec: TrackSpec, *, index: int, seconds: float, sr: int, rng: np.random.Generator
) -> tuple[TrackTruth, dict[str, np.ndarray]]:
    """Synthesise one track: its truth and its stereo stems by INSTRUMENTS name, each ``(2, round(seconds *
    sr))``, panned and scaled as in the mix, so that they sum to :func:`render_track`'s signal (the truth a
    source separator would aim at)."""
    truth, panned = _render_panned(spec, index=index, seconds=seconds, sr=sr, rng=rng)
    peak = float(np.max(np.abs(sum(panned.values()))))
    scale = MIX_PEAK / peak if peak > 0 else 1.0
    return truth, {name: (y * scale).astype(np.float32) for name, y in panned.items()}


def _render_panned(
    spec: TrackSpec, *, index: int, seconds: float, sr: int, rng: np.random.Generator
) -> tuple[TrackTruth, dict[str, np.ndarray]]:
    """The truth and the panned, unnormalised stereo stems (2, n) of one track."""
    n = int(round(seconds * sr))
    beat_s = 60.0 / spec.bpm
    bar_s = spec.beats_per_bar * beat_s
    n_bars = math.ceil(seconds / bar_s - 1e-9)
    key = m21key.Key(key_name(spec.tonic_pc, spec.mode))
    realised = [_realise(fig, key) for fig in spec.progression]

    chords, voicings, previous = [], [], None
    for bar in range(n_bars):
        fig = spec.progression[bar % len(spec.progression)]
        root_pc, quality, label = realised[bar % len(realised)]
        start, end = bar * bar_s, min((bar + 1) * bar_s, seconds)
        function = harmonic_function(fig, mode=spec.mode)
        chords.append(ChordTruth(round(start, 6), round(end, 6), root_pc, quality, label, fig, function))
        previous = _voice_lead([(root_pc + i) % 12 for i in CHORD_INTERVALS[quality]], previous)
        voicings.append(previous)

    bass = _bass_notes(chords, spec, beat_s)
    keys = _keys_notes(chords, voicings, spec, beat_s)
    lead = _melody_notes(chords, spec, beat_s, rng)
    if spec.timbre not in TIMBRES:
        raise ConfigError(f"unknown timbre {spec.timbre!r}; known: {', '.join(TIMBRES)}")
    timbre = TIMBRES[spec.timbre]
    stems = {
        "drums": drum_groove(spec.bpm, n_bars, sr=sr, beats_per_bar=spec.beats_per_bar),
        "bass": _render(bass, n=n, sr=sr, harmonics=timbre["bass"][0], decay_per_s=timbre["bass"][1]),
        "keys": _render(
            keys,
            n=n,
            sr=sr,
            harmonics=timbre["keys"][0],
            decay_per_s=0.0 if spec.keys_style == "block" else timbre["keys"][1],
        ),
        "lead": _render(lead, n=n, sr=sr, harmonics=timbre["lead"][0], decay_per_s=timbre["lead"][1]),
    }
    panned = {}
    for name, y in stems.items():
        y = y[:n]
        theta = (_PANS[name] + 1.0) * math.pi / 4  # constant-power pan
        panned[name] = np.zeros((2, n), dtype=np.float32)
        panned[name][0, : len(y)] = _GAINS[name] * math.cos(theta) * y
        panned[name][1, : len(y)] = _GAINS[name] * math.sin(theta) * y

    beats = np.arange(int(math.ceil(seconds / beat_s - 1e-9))) * beat_s
    beats = beats[beats < seconds - 1e-9]
    truth = TrackTruth(
        name=f"{index:02d}_{spec.name}",
        file=f"{index:02d}_{spec.name}.mp3",
        duration_s=n / sr,
        sr=sr,
        key=_key_label(spec.tonic_pc, spec.mode),
        tonic_pc=spec.tonic_pc,
        mode=spec.mode,
        bpm=spec.bpm,
        meter=f"{spec.beats_per_bar}/4",
        beats_per_bar=spec.beats_per_bar,
        progression=list(spec.progression),
        keys_style=spec.keys_style,
        instruments=list(INSTRUMENTS),
        chords=chords,
        beat_times=[round(float(t), 6) for t in beats],
        downbeat_times=[round(float(t), 6) for t in beats[:: spec.beats_per_bar]],
        bass_notes=[(round(e.onset_s, 6), round(e.duration_s, 6), int(e.midi)) for e in bass],
        melody_notes=[(round(e.onset_s, 6), round(e.duration_s, 6), int(e.midi)) for e in lead],
    )
    return truth, panned


def _render(
    notes: Sequence[NoteEvent], *, n: int, sr: int, harmonics: tuple[float, ...], decay_per_s: float
) -> np.ndarray:
    """Like ``synth.render_notes`` into ``n`` samples, synthesising each distinct (pitch, length) once."""
    y = np.zeros(n, dtype=np.float32)
    cache: dict[tuple[float, float], np.ndarray] = {}
    for e in notes:
        start = int(round(e.onset_s * sr))
        k = (e.midi, e.duration_s)
        if k not in cache:
            cache[k] = tone(e.midi, e.duration_s, sr=sr, harmonics=harmonics, decay_per_s=decay_per_s)
        piece = cache[k][: max(n - start, 0)]
        y[start : start + len(piece)] += e.gain * piece
    return normalize(y)


def _specs(n_tracks: int, rng: np.random.Generator) -> list[TrackSpec]:
    specs = list(TRACK_SPECS[:n_tracks])
    for i in range(len(TRACK_SPECS), n_tracks):
        base = TRACK_SPECS[i % len(TRACK_SPECS)]
        tonic = (base.tonic_pc + int(rng.integers(1, 12))) % 12
        bpm = float(round(base.bpm * float(rng.uniform(0.9, 1.1))))
        name = f"{base.name.split('_')[0]}_{_key_label(tonic, base.mode)}_{base.mode}"
        specs.append(replace(base, name=name, tonic_pc=tonic, bpm=bpm))
    return specs


def _key_label(tonic_pc: int, mode: str) -> str:
    """The tonic's name as the truth writes it: "G", "Eb", "F#"."""
    return key_name(tonic_pc, mode).capitalize().replace("-", "b")


def _realise(figure: str, key: m21key.Key) -> tuple[int, str, str]:
    """Root pitch class, quality and Harte label of ``figure`` in ``key`` (music21 realises the pitches)."""
    rn = m21roman.RomanNumeral(figure, key)
    root = rn.root()
    intervals = tuple(sorted({(p.pitchClass - root.pitchClass) % 12 for p in rn.pitches}))
    quality = next((q for q, iv in CHORD_INTERVALS.items() if tuple(sorted(iv)) == intervals), None)
    if quality is None:
        raise ValueError(f"{figure!r} in {key} realises {[p.name for p in rn.pitches]}, not a known quality")
    return root.pitchClass, quality, f"{root.name.replace('-', 'b')}:{quality}"


def _voice_lead(
    pcs: Sequence[int], previous: list[int] | None, *, low: int = 52, high: int = 76
) -> list[int]:
    """The closed voicing of ``pcs`` in MIDI ``[low, high]`` nearest ``previous``.

    The first chord (no ``previous``) is in root position, centred near MIDI 62.
    """
    candidates = []
    for bass in range(low, high + 1):
        if bass % 12 not in pcs:
            continue
        notes = [bass]
        for step in range(1, 12):
            if (bass + step) % 12 in pcs:
                notes.append(bass + step)
        if notes[-1] <= high:
            candidates.append(notes)
    if previous is None:
        return min(candidates, key=lambda v: (v[0] % 12 != pcs[0], abs(np.mean(v) - 62)))

    def distance(v: list[int]) -> float:
        return sum(min(abs(a - b) for b in previous) for a in v) + sum(
            min(abs(a - b) for b in v) for a in previous
        )

    return min(candidates, key=lambda v: (distance(v), v))


def _bass_notes(chords: Sequence[ChordTruth], spec: TrackSpec, beat_s: float) -> list[NoteEvent]:
    """Root on beat 1; in 4/4 an eighth-note pickup and the fifth on beat 3. MIDI 36-47 (C2-B2)."""
    notes = []
    for c in chords:
        root = 36 + c.root_pc
        if spec.beats_per_bar == 4:
            pattern = [
                (0.0, 1.5, root),
                (1.5, 0.5, root),
                (2.0, 2.0, root + 7 if root + 7 <= 52 else root - 5),
            ]
        else:
            pattern = [(0.0, spec.beats_per_bar, root)]
        notes += [
            NoteEvent(c.start_s + b * beat_s, d * beat_s * 0.95, m, 0.9)
            for b, d, m in pattern
            if c.start_s + b * beat_s < c.end_s
        ]
    return notes


def _keys_notes(
    chords: Sequence[ChordTruth], voicings: Sequence[list[int]], spec: TrackSpec, beat_s: float
) -> list[NoteEvent]:
    """The keyboard part: block chords held for the bar, waltz chords on beats 2 and 3, or arpeggios."""
    notes = []
    for c, v in zip(chords, voicings, strict=True):
        bar = spec.beats_per_bar * beat_s
        if spec.keys_style == "block":
            notes += [NoteEvent(c.start_s, bar * 0.98, m, 1.0 / len(v)) for m in v]
        elif spec.keys_style == "waltz":
            for b in range(1, spec.beats_per_bar):
                notes += [NoteEvent(c.start_s + b * beat_s, beat_s * 0.8, m, 1.0 / len(v)) for m in v]
        else:  # arpeggio: eighth notes up and down the voicing, each ringing for a quarter
            order = v + v[-2:0:-1]
            for k in range(2 * spec.beats_per_bar):
                notes.append(NoteEvent(c.start_s + k * beat_s / 2, beat_s, order[k % len(order)], 0.6))
    return [e for e in notes if e.onset_s < chords[-1].end_s]


_RHYTHMS = {
    4: ((1, 1, 1, 1), (2, 1, 1), (1, 1, 2), (1.5, 0.5, 2), (0.5, 0.5, 1, 1, 1), (2, 2), (1, 0.5, 0.5, 2)),
    3: ((1, 1, 1), (2, 1), (1, 2), (1.5, 0.5, 1), (3,)),
}


def _melody_notes(
    chords: Sequence[ChordTruth], spec: TrackSpec, beat_s: float, rng: np.random.Generator
) -> list[NoteEvent]:
    """Chord tones in MIDI 64-84, moving mostly by small leaps; a seeded rhythm per bar."""
    notes, prev = [], 72
    for c in chords:
        tones = np.array([m for m in range(64, 85) if (m - c.root_pc) % 12 in CHORD_INTERVALS[c.quality]])
        rhythm = _RHYTHMS[spec.beats_per_bar][int(rng.integers(len(_RHYTHMS[spec.beats_per_bar])))]
        t = c.start_s
        for d in rhythm:
            if t >= c.end_s - 1e-9:
                break
            weights = np.exp(-np.abs(tones - prev) / 3.0) * (tones != prev)
            prev = int(rng.choice(tones, p=weights / weights.sum()))
            notes.append(
                NoteEvent(t, min(d * beat_s, c.end_s - t) * 0.92, prev, float(rng.uniform(0.7, 1.0)))
            )
            t += d * beat_s
    return notes
