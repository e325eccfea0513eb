"""Per-stem descriptors, computed from separated chunks as they stream out of the separator.

Stems are not kept (unless asked for with :func:`write_stems_flac`): :class:`StemAccumulator` reduces each
chunk to per-frame data (RMS, onset strength, and the chroma of the harmonic stems) and a running energy
per stem, and :meth:`StemAccumulator.finish` turns those into :class:`StemFeatures`.

Frame alignment across chunks
-----------------------------
Each chunk is downmixed to mono per stem and resampled to ``analysis_sr`` with a streaming soxr resampler
(whose output equals one-shot resampling). The mono stems wait in a short buffer, and a frame is computed
(with :func:`ostinato.analysis.spectral.compute_frame_features`) only once every sample of its window has
arrived, so frame ``t`` is always centred at sample ``t * hop_length`` of the whole stem, exactly as in an
analysis of the full signal: the same grid as the mix analysis. Each call re-analyses a few frames of
context before the new ones (``ceil(n_fft / 2 / hop) + 1 + n_fft // (2 * hop)`` frames, 5 at the defaults)
so that the onset envelope's lag-1 difference and delay also see real audio, never a chunk edge. The
result therefore equals the full-signal analysis up to float rounding, whatever the chunk sizes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np
import soundfile
import soxr

from ostinato.analysis.librosa_import import librosa
from ostinato.analysis.spectral import compute_frame_features
from ostinato.errors import AnalysisError

#: RMS values are floored at this level before conversion to dB (dBFS: 0 dB = RMS of 1).
RMS_FLOOR_DB = -100.0
#: A stem is present when more than PRESENT_FRAME_FRACTION of its frames exceed PRESENT_RMS_DB ...
PRESENT_RMS_DB = -50.0
PRESENT_FRAME_FRACTION = 0.10
#: ... and its share of the total energy exceeds PRESENT_MIN_SHARE.
PRESENT_MIN_SHARE = 0.01
#: Onset peaks weaker than this (mean positive log-mel rise over the 128 bands, dB) are not counted. librosa's
#: peak picking normalises the envelope to its maximum, which turns the tiny flux of a steady tone (< 0.05)
#: into "onsets"; real note and hit onsets measure 0.3 and more, even at -40 dBFS.
ONSET_MIN_STRENGTH = 0.2
#: Below this mean power over all stems (RMS -120 dBFS) the track counts as silent: every share is 0.
SILENT_MEAN_POWER = 1e-12


@dataclass(frozen=True)
class StemFeatures:
    """Summary descriptors of one separated stem.

    Attributes
    ----------
    name : str
        Source name (``drums``, ``bass``, ...).
    rms_mean_db, rms_std_db, rms_max_db : float
        Mean, standard deviation and maximum over frames of the RMS envelope, dBFS (20 log10 RMS, floored at
        :data:`RMS_FLOOR_DB`), from frames of ``hop_length`` samples of the mono stem at ``analysis_sr``.
    energy_share : float in [0, 1]
        The stem's share of the summed energy of all stems (sum of squared samples, all channels);
        shares sum to 1, or are all 0 when the track is silent.
    onset_density : float >= 0
        Onsets per second of track: peaks picked by ``librosa.onset.onset_detect`` on the stem's onset
        envelope, at least :data:`ONSET_MIN_STRENGTH` strong; 0 if the stem is not present.
    present : bool
        Audibly present: RMS above :data:`PRESENT_RMS_DB` in more than :data:`PRESENT_FRAME_FRACTION` of
        the frames, and ``energy_share`` above :data:`PRESENT_MIN_SHARE`.
    """

    name: str
    rms_mean_db: float
    rms_std_db: float
    rms_max_db: float
    energy_share: float
    onset_density: float
    present: bool


@dataclass(frozen=True)
class StemAnalysis:
    """What separation leaves for the rest of the analysis.

    Attributes
    ----------
    stems : list[StemFeatures]
        One per source, in the separator's order.
    harmonic_chroma : np.ndarray [shape=(12, n_frames), float32]
        Chroma (row 0 = C, each frame divided by its maximum, zeros where silent) of the mono sum of the
        harmonic stems, frame ``t`` centred at ``t * hop_length / analysis_sr`` seconds like the mix frames.
    onset_envelopes : dict[str, np.ndarray [shape=(n_frames,), float32]]
        Onset strength per stem on the same frames, for rhythm analysis (e.g. syncopation).
    harmonic_signal : np.ndarray [shape=(n,), float32] or None
        The mono sum of the harmonic stems at ``analysis_sr``, for the chord and bass networks; None unless
        the accumulator was asked to keep signals.
    drum_signal : np.ndarray [shape=(n,), float32] or None
        The mono drum stem at ``analysis_sr``, for the beat network; None when it was not kept or the
        sources have no ``drums``.
    """

    stems: list[StemFeatures]
    harmonic_chroma: np.ndarray
    onset_envelopes: dict[str, np.ndarray]
    harmonic_signal: np.ndarray | None = None
    drum_signal: np.ndarray | None = None

    def is_present(self, name: str) -> bool:
        """Whether stem ``name`` is among the stems and audibly present."""
        return any(s.name == name and s.present for s in self.stems)

    @property
    def n_frames(self) -> int:
        """Number of analysis frames."""
        return int(self.harmonic_chroma.shape[1])


class StemAccumulator:
    """Consumes separated chunks one at a time and keeps only compact per-frame data.

    Parameters
    ----------
    sources : sequence of str
        Source names, in the order of the stems passed to :meth:`add`.
    model_sr : int > 0
        Sample rate of the stems, Hz.
    analysis_sr : int > 0
        Sample rate of the frame analysis, Hz (the mix analysis rate, so frames line up).
    hop_length : int > 0
        Samples between frames at ``analysis_sr``.
    harmonic_sources : sequence of str
        Sources summed for :attr:`StemAnalysis.harmonic_chroma`; names not in ``sources`` are ignored,
        but at least one must be there (drums and vocals are left out of harmony on purpose).
    n_fft : int >= hop_length
        Frame length of the analysis, samples.
    tuning : float in [-0.5, 0.5)
        Deviation from A440 in fractions of a semitone for the chroma filters, as in
        :func:`~ostinato.analysis.spectral.compute_frame_features`; pass the mix's estimate so that the
        harmonic chroma uses the same filters as the mix chroma.

    Raises
    ------
    AnalysisError
        If a parameter is out of range or no harmonic source is among ``sources``.
    """

    def __init__(
        self,
        sources: Sequence[str],
        *,
        model_sr: int,
        analysis_sr: int = 22050,
        hop_length: int = 512,
        harmonic_sources: Sequence[str] = ("bass", "other"),
        n_fft: int = 2048,
        tuning: float = 0.0,
        keep_signals: bool = False,
    ) -> None:
        self.sources = [str(s) for s in sources]
        if not self.sources or len(set(self.sources)) != len(self.sources):
            raise AnalysisError(f"sources must be distinct names, at least one, got {list(sources)}.")
        if min(model_sr, analysis_sr, hop_length) <= 0 or n_fft < hop_length:
            raise AnalysisError(
                "need model_sr, analysis_sr, hop_length > 0 and n_fft >= hop_length, got "
                f"model_sr={model_sr}, analysis_sr={analysis_sr}, hop_length={hop_length}, n_fft={n_fft}."
            )
        self._harmonic = [self.sources.index(h) for h in harmonic_sources if h in self.sources]
        if not self._harmonic:
            raise AnalysisError(
                f"none of the harmonic sources {list(harmonic_sources)} is among the sources {self.sources}."
            )
        self.model_sr, self.analysis_sr = model_sr, analysis_sr
        self.hop_length, self.n_fft, self.tuning = hop_length, n_fft, float(tuning)
        self._resampler = (
            soxr.ResampleStream(model_sr, analysis_sr, len(self.sources), dtype="float32", quality="HQ")
            if model_sr != analysis_sr else None
        )
        half = n_fft // 2
        # Frames re-analysed before the new ones so the onset envelope never sees a chunk edge.
        self._context = math.ceil(half / hop_length) + 1 + n_fft // (2 * hop_length)
        self._buf = np.zeros((len(self.sources), 0), np.float32)  # mono stems at analysis_sr
        self._buf_start = 0  # absolute index of _buf[:, 0], a multiple of hop_length
        self._next_frame = 0
        self._energy = np.zeros(len(self.sources), np.float64)
        self._n_model = 0
        self._channels: int | None = None
        self._onsets: list[list[np.ndarray]] = [[] for _ in self.sources]
        self._rms: list[list[np.ndarray]] = [[] for _ in self.sources]
        self._chroma: list[np.ndarray] = []
        self._drums = self.sources.index("drums") if "drums" in self.sources else None
        self._keep_signals = bool(keep_signals)
        self._harmonic_parts: list[np.ndarray] = []
        self._drum_parts: list[np.ndarray] = []
        self._finished = False

    def add(self, stems: np.ndarray) -> None:
        """Take the next chunk, ``np.ndarray [shape=(n_sources, channels, m)]`` at ``model_sr``.

        Raises
        ------
        AnalysisError
            If the shape does not match ``sources`` (or earlier chunks), samples are not finite, or
            :meth:`finish` was already called.
        """
        if self._finished:
            raise AnalysisError("cannot add stems after finish().")
        stems = np.asarray(stems, dtype=np.float32)
        if stems.ndim != 3 or stems.shape[0] != len(self.sources) or (
            self._channels is not None and stems.shape[1] != self._channels
        ):
            raise AnalysisError(
                f"expected stems of shape ({len(self.sources)}, channels, m) for sources {self.sources}"
                f"{'' if self._channels is None else f' with {self._channels} channels'}, got {stems.shape}."
            )
        if not np.isfinite(stems).all():
            raise AnalysisError("the stems contain NaN or infinite samples.")
        self._channels = stems.shape[1]
        if stems.shape[2] == 0:
            return
        self._energy += np.einsum("scm,scm->s", stems, stems, dtype=np.float64)
        self._n_model += stems.shape[2]
        mono = stems.mean(axis=1)
        if self._resampler is not None:
            mono = self._resampler.resample_chunk(np.ascontiguousarray(mono.T)).T
        self._append(mono)
        self._analyse(final=False)

    def finish(self, *, n_frames: int | None = None) -> StemAnalysis:
        """Analyse what is left and summarise every stem.

        Parameters
        ----------
        n_frames : int >= 0 or None
            If given, the frame arrays are cut or zero-padded to this many frames (the mix analysis'
            count, which can differ by one where the decoded and separated lengths round differently).
            Summaries always use the stems' own frames.

        Raises
        ------
        AnalysisError
            If no audio was added, or finish() was already called.
        """
        if self._finished:
            raise AnalysisError("finish() was already called.")
        if self._n_model == 0:
            raise AnalysisError("no stems were added, so there is nothing to analyse.")
        self._finished = True
        if self._resampler is not None:
            tail = self._resampler.resample_chunk(np.zeros((0, len(self.sources)), np.float32), last=True)
            self._append(tail.T)
        self._analyse(final=True)
        total = self._buf_start + self._buf.shape[1]
        if self._next_frame == 0:
            raise AnalysisError(
                f"the stems are too short to analyse ({self._n_model} samples at {self.model_sr} Hz)."
            )
        duration_s = total / self.analysis_sr

        mean_power = self._energy.sum() / (self._n_model * (self._channels or 1))
        silent = mean_power <= SILENT_MEAN_POWER
        shares = np.zeros_like(self._energy) if silent else self._energy / self._energy.sum()
        features, envelopes = [], {}
        for k, name in enumerate(self.sources):
            onset = np.concatenate(self._onsets[k])
            rms_db = 20.0 * np.log10(np.maximum(np.concatenate(self._rms[k]), 10.0 ** (RMS_FLOOR_DB / 20.0)))
            loud_fraction = float(np.mean(rms_db > PRESENT_RMS_DB))
            present = loud_fraction > PRESENT_FRAME_FRACTION and shares[k] > PRESENT_MIN_SHARE
            density = 0.0
            if present and duration_s > 0:
                peaks = librosa.onset.onset_detect(
                    onset_envelope=onset, sr=self.analysis_sr, hop_length=self.hop_length, units="frames"
                )
                density = int(np.count_nonzero(onset[peaks] >= ONSET_MIN_STRENGTH)) / duration_s
            features.append(StemFeatures(
                name=name,
                rms_mean_db=float(rms_db.mean()),
                rms_std_db=float(rms_db.std()),
                rms_max_db=float(rms_db.max()),
                energy_share=float(shares[k]),
                onset_density=float(density),
                present=bool(present),
            ))
            envelopes[name] = _fit_frames(onset, n_frames)
        chroma = _fit_frames(np.concatenate(self._chroma, axis=1), n_frames)
        harmonic_signal = drum_signal = None
        if self._keep_signals:
            harmonic_signal = np.concatenate(self._harmonic_parts)
            if self._drums is not None:
                drum_signal = np.concatenate(self._drum_parts)
        return StemAnalysis(stems=features, harmonic_chroma=chroma, onset_envelopes=envelopes,
                            harmonic_signal=harmonic_signal, drum_signal=drum_signal)

    # --------------------------------------------------------------------------------------- internals

    def _append(self, mono: np.ndarray) -> None:
        if not mono.shape[1]:
            return
        mono = mono.astype(np.float32, copy=False)
        self._buf = np.concatenate([self._buf, mono], axis=1)
        if self._keep_signals:
            self._harmonic_parts.append(mono[self._harmonic].sum(axis=0))
            if self._drums is not None:
                self._drum_parts.append(mono[self._drums].copy())

    def _analyse(self, *, final: bool) -> None:
        """Compute every frame whose window is complete (all remaining frames when ``final``)."""
        hop, half = self.hop_length, self.n_fft // 2
        available = self._buf_start + self._buf.shape[1]
        # Frame t spans samples [t * hop - half, t * hop - half + n_fft); the last frames of the track are
        # zero-padded on the right, as in the full-signal analysis.
        end_frame = -(-available // hop) if final else max(0, (available - (self.n_fft - half)) // hop + 1)
        if end_frame <= self._next_frame:
            return
        first = max(0, self._next_frame - self._context)
        lo = first * hop - self._buf_start
        hi = self._buf.shape[1] if final else (end_frame - 1) * hop + self.n_fft - half - self._buf_start
        keep = slice(self._next_frame - first, end_frame - first)
        segment = self._buf[:, lo:hi]
        for k in range(len(self.sources)):
            ff = compute_frame_features(segment[k], sr=self.analysis_sr, hop_length=hop, n_fft=self.n_fft,
                                        tuning=self.tuning)
            self._onsets[k].append(ff.onset_envelope[keep])
            self._rms[k].append(ff.rms[keep])
        harmonic = segment[self._harmonic].sum(axis=0)
        ff = compute_frame_features(harmonic, sr=self.analysis_sr, hop_length=hop, n_fft=self.n_fft,
                                    tuning=self.tuning)
        self._chroma.append(ff.chroma[:, keep])
        self._next_frame = end_frame
        drop = max(0, self._next_frame - self._context) * hop - self._buf_start
        if drop > 0:
            self._buf, self._buf_start = self._buf[:, drop:], self._buf_start + drop


def _fit_frames(frames: np.ndarray, n_frames: int | None) -> np.ndarray:
    """``frames`` (..., n) cut or zero-padded to (..., n_frames) when ``n_frames`` is given."""
    frames = np.ascontiguousarray(frames, dtype=np.float32)
    if n_frames is None or frames.shape[-1] == n_frames:
        return frames
    if n_frames < 0:
        raise AnalysisError(f"n_frames must be >= 0, got {n_frames}.")
    if frames.shape[-1] > n_frames:
        return np.ascontiguousarray(frames[..., :n_frames])
    pad = [(0, 0)] * (frames.ndim - 1) + [(0, n_frames - frames.shape[-1])]
    return np.pad(frames, pad)


class StemFlacWriter:
    """Appends separated chunks to one FLAC file per source, ``<folder>/<track_id>/<source>.flac``.

    Files are opened on the first :meth:`write` (when the channel count is known), written under a
    ``.partial`` name and renamed by :meth:`close`, so a crash never leaves a truncated file under the final
    name; :meth:`abort` (or leaving a ``with`` block by an exception) deletes them instead. Samples are
    clipped to [-1, 1] and stored as 24-bit PCM.

    Raises
    ------
    AnalysisError
        If ``track_id`` is not a plain file name, or a chunk does not match ``sources``.
    """

    def __init__(self, *, sr: int, sources: Sequence[str], folder: str | Path, track_id: str,
                 subtype: str = "PCM_24") -> None:
        if not track_id or track_id in (".", "..") or "/" in track_id or "\\" in track_id:
            raise AnalysisError(f"track_id must be a plain file name, got {track_id!r}.")
        if sr <= 0:
            raise AnalysisError(f"sr must be positive, got {sr}.")
        self.sr, self.sources, self.subtype = int(sr), [str(s) for s in sources], subtype
        self.folder = Path(folder) / track_id
        self.paths = [self.folder / f"{name}.flac" for name in self.sources]
        self._files: list[soundfile.SoundFile] = []
        self._closed = False

    def _partial(self, path: Path) -> Path:
        return path.with_name(path.name + ".partial")

    def write(self, stems: np.ndarray) -> None:
        """Append ``np.ndarray [shape=(n_sources, channels, m)]`` at ``sr`` to the stem files."""
        if self._closed:
            raise AnalysisError("cannot write stems after close() or abort().")
        stems = np.asarray(stems, dtype=np.float32)
        if stems.ndim != 3 or stems.shape[0] != len(self.sources) or (
            self._files and stems.shape[1] != self._files[0].channels
        ):
            raise AnalysisError(
                f"expected stems of shape ({len(self.sources)}, channels, m) for sources {self.sources}, "
                f"got {stems.shape}."
            )
        if not self._files:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._files = [
                soundfile.SoundFile(self._partial(path), "w", samplerate=self.sr, channels=stems.shape[1],
                                    format="FLAC", subtype=self.subtype)
                for path in self.paths
            ]
        for file, stem in zip(self._files, stems, strict=True):
            file.write(np.clip(stem.T, -1.0, 1.0))

    def close(self) -> list[Path]:
        """Finish the files and give them their final names; returns the paths ([] if nothing was written)."""
        if self._closed:
            return self.paths if self._files else []
        self._closed = True
        for file in self._files:
            file.close()
        for path in self.paths if self._files else []:
            self._partial(path).replace(path)
        return self.paths if self._files else []

    def abort(self) -> None:
        """Close and delete the partial files."""
        self._closed = True
        for file, path in zip(self._files, self.paths, strict=False):
            file.close()
            self._partial(path).unlink(missing_ok=True)
        self._files = []

    def __enter__(self) -> StemFlacWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


@overload
def write_stems_flac(
    stems: None = None, *, sr: int, sources: Sequence[str], folder: str | Path, track_id: str
) -> StemFlacWriter: ...


@overload
def write_stems_flac(
    stems: np.ndarray, *, sr: int, sources: Sequence[str], folder: str | Path, track_id: str
) -> list[Path]: ...


def write_stems_flac(
    stems: np.ndarray | None = None, *, sr: int, sources: Sequence[str], folder: str | Path, track_id: str
) -> StemFlacWriter | list[Path]:
    """Write stems as FLAC files ``<folder>/<track_id>/<source>.flac`` (for ``--keep-stems``).

    With ``stems`` (``np.ndarray [shape=(n_sources, channels, m)]`` at ``sr`` Hz), writes them and returns
    the paths. Without, returns an open :class:`StemFlacWriter` to :meth:`~StemFlacWriter.write` chunk by
    chunk and :meth:`~StemFlacWriter.close` (or use as a context manager, which deletes the files on error).
    """
    writer = StemFlacWriter(sr=sr, sources=sources, folder=folder, track_id=track_id)
    if stems is None:
        return writer
    with writer:
        writer.write(stems)
    return writer.paths
