"""The theory conditioner: music-theory conditions -> a token sequence (B, tokens, dim) for cross-attention.

Tokens are four global ones (key + mode, time signature, genre, continuous features: BPM, harmonic and
rhythmic complexity, loudness) followed by time tokens, each the average of ``frames_per_token`` mel frames of
chord root + quality + Roman numeral + function + section embeddings and beat/bar phase features, plus a
sinusoidal encoding of the token's time position. Dropping a sample's conditions (classifier-free guidance)
replaces every id by 0 ("<none>") and zeroes phases and continuous features, so the unconditional model is
simply the conditioner's answer to "nothing known".

Beside the tokens, two maps on the latent grid are concatenated to the U-Net's input (attention queries carry
no position, so "which chord now" is also given in place): a learned one (``map_channels``: the frame
embeddings averaged onto the latent time axis) and, with ``chord_map_channels`` > 0, a fixed chord-tone map:
the requested chord's tones and their partials drawn on the training set's mel axis (``chord_tone_mel``),
folded onto the latent grid, ``chord_map_channels`` mel rows per latent row as channels. A U-Net can copy
where the chord's energy belongs from its own input rather than learn twelve roots x qualities of spectra
from the embeddings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

from ostinato.datasets import vocab
from ostinato.datasets.vocab import vocab_sizes
from ostinato.errors import OstinatoError
from ostinato.theory.chords import CHORD_INTERVALS, canonical_quality

#: Frame-aligned id tracks (B, n_frames) the conditioner reads, each with id 0 = "<none>".
FRAME_IDS = ("chord_root", "chord_quality", "roman", "function", "section")
#: Frame-aligned float tracks (B, n_frames): phases in [0, 1), downbeat 0/1.
FRAME_FLOATS = ("beat_phase", "bar_phase", "downbeat")
#: Global ids (B,), id 0 = "<none>".
GLOBAL_IDS = ("key", "mode", "time_signature", "genre")
#: Continuous globals (B,) with a ``<name>_known`` mask (B,) (0 where unknown).
CONTINUOUS = ("bpm", "harmonic_complexity", "rhythmic_complexity", "loudness_lufs")
#: Id columns whose vocabulary size is a constructor argument ``n_<column>``.
VOCABULARY_COLUMNS = (*FRAME_IDS, *GLOBAL_IDS)
#: Number of global tokens in front of the time tokens.
N_GLOBAL_TOKENS = 4
#: Default embedding table sizes: the current vocabularies (a saved conditioner records its own).
_SIZES = vocab_sizes()


def _continuous_features(conditions: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B, 2 * len(CONTINUOUS)): each value scaled to about unit range, times its known mask, then the masks."""
    bpm = conditions["bpm"].clamp(min=1.0)
    scaled = {
        "bpm": torch.log2(bpm / 120.0),  # octaves of tempo around 120 BPM
        "harmonic_complexity": conditions["harmonic_complexity"],
        "rhythmic_complexity": conditions["rhythmic_complexity"],
        "loudness_lufs": (conditions["loudness_lufs"] + 14.0) / 10.0,
    }
    known = [conditions[f"{name}_known"].float() for name in CONTINUOUS]
    values = [scaled[name].float() * k for name, k in zip(CONTINUOUS, known, strict=True)]
    return torch.stack(values + known, dim=-1)


def drop_conditions(conditions: dict[str, torch.Tensor], drop: torch.Tensor) -> dict[str, torch.Tensor]:
    """A copy of ``conditions`` where samples with ``drop`` (B,) bool True say "nothing known"."""
    out = {}
    for name, value in conditions.items():
        keep = (~drop).view(-1, *([1] * (value.dim() - 1))).to(value.dtype)
        out[name] = value * keep
    return out


def _time_encoding(n_tokens: int, dim: int, *, device: torch.device, seconds_per_token: float) -> torch.Tensor:
    """Sinusoidal encoding (n_tokens, dim) of each token's start time in seconds (periods 0.1 s .. ~1000 s)."""
    t = torch.arange(n_tokens, device=device, dtype=torch.float32) * seconds_per_token
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=device, dtype=torch.float32) / half) * 2 * math.pi
    angles = t[:, None] * freqs[None, :] * 10.0
    enc = torch.cat([angles.sin(), angles.cos()], dim=-1)
    return F.pad(enc, (0, dim - 2 * half))


#: MIDI range of the notes whose partials the chord-tone map draws (C2 .. C6: bass to lead).
CHORD_MAP_MIDI = (36, 84)
#: Partials per note in the chord-tone map, amplitude 1/k for partial k.
CHORD_MAP_PARTIALS = 6


def chord_tone_table(n_chord_root: int, n_chord_quality: int) -> torch.Tensor:
    """(n_chord_root, n_chord_quality, 12) float: 1 on the pitch classes of the chord (root id, quality id) of
    ``ostinato.datasets.vocab``; the root alone for an unknown quality ("<other>", "<none>"); zeros without a
    root. Ids beyond the current vocabulary are zeros."""
    table = torch.zeros(n_chord_root, n_chord_quality, 12)
    for r in range(min(n_chord_root, len(vocab.CHORD_ROOTS.tokens))):
        root = vocab.decode_chord_root(r)
        if root is None:
            continue
        for q in range(n_chord_quality):
            name = vocab.decode_chord_quality(q) if q < len(vocab.CHORD_QUALITIES.tokens) else vocab.NONE
            for interval in CHORD_INTERVALS.get(canonical_quality(name), (0,)):
                table[r, q, (root + interval) % 12] = 1.0
    return table


def chord_tone_mel(*, sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> torch.Tensor:
    """(12, n_mels) float: the mel spectrum (Slaney mel filters, as ``ostinato.datasets.mel.log_mel``) of every
    note of each pitch class in ``CHORD_MAP_MIDI`` with ``CHORD_MAP_PARTIALS`` partials of power ``1/k**2``,
    each row scaled to a maximum of 1."""
    import numpy as np

    from ostinato.analysis.librosa_import import librosa

    filters = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)  # (n_mels, bins)
    bin_hz = sample_rate / n_fft
    spectrum = np.zeros((12, filters.shape[1]))
    for midi in range(CHORD_MAP_MIDI[0], CHORD_MAP_MIDI[1] + 1):
        f0 = 440.0 * 2.0 ** ((midi - 69) / 12)
        for k in range(1, CHORD_MAP_PARTIALS + 1):
            b = f0 * k / bin_hz
            if b < filters.shape[1] - 1:  # linear interpolation between the two nearest FFT bins
                lo = int(b)
                spectrum[midi % 12, lo] += (1 - (b - lo)) / k**2
                spectrum[midi % 12, lo + 1] += (b - lo) / k**2
    mel = spectrum @ filters.T
    return torch.from_numpy(mel / np.maximum(mel.max(axis=1, keepdims=True), 1e-12)).float()


@dataclass
class ConditionerOutput(BaseOutput):
    """``tokens`` (B, N_GLOBAL_TOKENS + ceil(n_frames / frames_per_token), dim) for cross-attention;
    ``frame_map`` (B, map_channels + chord_map_channels, latent height, latent width) or None: frame conditions
    laid out on the latent grid (learned channels, then the chord-tone map), concatenated to the U-Net's input
    channels."""

    tokens: torch.Tensor
    frame_map: torch.Tensor | None = None


class TheoryConditioner(ModelMixin, ConfigMixin):
    """Theory conditions -> tokens (B, N_GLOBAL_TOKENS + ceil(n_frames / frames_per_token), dim), plus an
    optional frame map on the latent grid (``map_channels`` + ``chord_map_channels`` > 0).

    Vocabulary sizes are constructor arguments (from ``ostinato.datasets.vocab.vocab_sizes()``) so a saved
    conditioner knows which vocabulary it was trained with. ``seconds_per_frame`` (hop / sample rate) makes
    the time encoding count seconds, so a 30 s generation is encoded like 30 s of training audio. The chord-tone
    map (``chord_map_channels`` > 0) is drawn on the mel axis of ``sample_rate`` Hz, ``n_fft``, ``n_mels``,
    ``fmin``/``fmax`` Hz (the training set's); it has no weights, and a conditioner saved without it (older
    checkpoints) loads with ``chord_map_channels`` 0, as it was trained.
    """

    @register_to_config
    def __init__(
        self,
        *,
        dim: int = 256,
        frames_per_token: int = 8,
        seconds_per_frame: float = 512 / 22050,
        n_chord_root: int = _SIZES["chord_root"],
        n_chord_quality: int = _SIZES["chord_quality"],
        n_roman: int = _SIZES["roman"],
        n_function: int = _SIZES["function"],
        n_section: int = _SIZES["section"],
        n_key: int = _SIZES["key"],
        n_mode: int = _SIZES["mode"],
        n_time_signature: int = _SIZES["time_signature"],
        n_genre: int = _SIZES["genre"],
        map_channels: int = 8,
        chord_map_channels: int = 0,
        sample_rate: int = 22050,
        n_fft: int = 1024,
        n_mels: int = 80,
        fmin: float = 0.0,
        fmax: float | None = None,
    ) -> None:
        super().__init__()
        sizes = {"chord_root": n_chord_root, "chord_quality": n_chord_quality, "roman": n_roman,
                 "function": n_function, "section": n_section, "key": n_key, "mode": n_mode,
                 "time_signature": n_time_signature, "genre": n_genre}
        self.embeddings = nn.ModuleDict({name: nn.Embedding(size, dim) for name, size in sizes.items()})
        self.phase = nn.Linear(5, dim)  # sin/cos of beat and bar phase, downbeat flag
        self.continuous = nn.Sequential(nn.Linear(2 * len(CONTINUOUS), dim), nn.SiLU(), nn.Linear(dim, dim))
        self.token_type = nn.Embedding(N_GLOBAL_TOKENS + 1, dim)  # one per global token, one for time tokens
        self.frame_mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.norm = nn.LayerNorm(dim)
        self.to_map = nn.Linear(dim, map_channels) if map_channels else None
        if chord_map_channels:
            tones = chord_tone_table(n_chord_root, n_chord_quality)  # (roots, qualities, 12)
            mel = chord_tone_mel(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
            # Computed from the config, not saved: (roots, qualities, n_mels) in [0, 1].
            chord_mel = torch.einsum("rqp,pm->rqm", tones, mel)
            chord_mel = chord_mel / chord_mel.amax(dim=-1, keepdim=True).clamp(min=1e-12)
            chord_mel = torch.log1p(100 * chord_mel) / math.log1p(100)  # log-compressed as the mels are: 40 dB
            self.register_buffer("chord_mel", chord_mel, persistent=False)

    def forward(
        self, conditions: dict[str, torch.Tensor], drop: torch.Tensor | None = None, *,
        map_size: tuple[int, int] | None = None,
    ) -> ConditionerOutput:
        """Encode ``conditions`` (the loader's tensors: frame ids (B, n_frames) int64, phases and downbeat
        (B, n_frames) float, global ids (B,) int64, continuous (B,) float with ``_known`` masks). ``drop`` (B,)
        bool marks samples whose conditions are dropped. With ``map_size`` (latent height, width), also the
        frame map the U-Net reads beside its latents (see ``ConditionerOutput``)."""
        if drop is not None:
            conditions = drop_conditions(conditions, drop)
        frames = sum(self.embeddings[name](conditions[name].long()) for name in FRAME_IDS)
        beat, bar = 2 * math.pi * conditions["beat_phase"].float(), 2 * math.pi * conditions["bar_phase"].float()
        phase = torch.stack([beat.sin(), beat.cos(), bar.sin(), bar.cos(), conditions["downbeat"].float()], dim=-1)
        # A track without beats (or a dropped one) has all-zero phases: keep cos(0) = 1 from looking like a beat.
        has_beats = (conditions["beat_phase"].float().abs().sum(dim=1) > 0).float()[:, None, None]
        frames = frames + self.phase(phase * has_beats)
        frame_map = self._frame_map(frames, conditions, map_size) if map_size is not None else None
        time_tokens = self._pool(frames)
        n_tokens = time_tokens.shape[1]
        time_tokens = time_tokens + _time_encoding(
            n_tokens, self.config.dim, device=frames.device,
            seconds_per_token=self.config.seconds_per_frame * self.config.frames_per_token,
        )
        time_tokens = self.frame_mlp(time_tokens) + time_tokens + self.token_type.weight[N_GLOBAL_TOKENS]
        globals_ = torch.stack([
            self.embeddings["key"](conditions["key"].long()) + self.embeddings["mode"](conditions["mode"].long()),
            self.embeddings["time_signature"](conditions["time_signature"].long()),
            self.embeddings["genre"](conditions["genre"].long()),
            self.continuous(_continuous_features(conditions)),
        ], dim=1) + self.token_type.weight[:N_GLOBAL_TOKENS]
        return ConditionerOutput(tokens=self.norm(torch.cat([globals_, time_tokens], dim=1)), frame_map=frame_map)

    def _frame_map(
        self, frames: torch.Tensor, conditions: dict[str, torch.Tensor], map_size: tuple[int, int]
    ) -> torch.Tensor | None:
        """(B, map_channels + chord_map_channels, *map_size) or None when both are 0."""
        height, width = map_size
        maps = []
        if self.to_map is not None:
            # The frame embeddings averaged onto the latent's time axis and repeated along its frequency axis.
            per_frame = self.to_map(frames).transpose(1, 2)  # (B, map_channels, n_frames)
            maps.append(F.adaptive_avg_pool1d(per_frame, width)[:, :, None, :].expand(-1, -1, height, -1))
        if self.config.chord_map_channels:
            k = self.config.chord_map_channels
            chord = self.chord_mel[conditions["chord_root"].long(), conditions["chord_quality"].long()]  # (B, T, mels)
            grid = F.adaptive_avg_pool2d(chord.transpose(1, 2)[:, None], (height * k, width))  # (B, 1, h * k, w)
            # Fold k consecutive mel rows of each latent row into channels: (B, k, h, w), low bins first.
            maps.append(grid.view(-1, height, k, width).transpose(1, 2).to(frames.dtype))
        return torch.cat(maps, dim=1) if maps else None

    def _pool(self, frames: torch.Tensor) -> torch.Tensor:
        """Average (B, n_frames, dim) over groups of ``frames_per_token`` frames -> (B, ceil(n / k), dim)."""
        k = self.config.frames_per_token
        pooled = F.avg_pool1d(frames.transpose(1, 2), kernel_size=k, stride=k, ceil_mode=True)
        return pooled.transpose(1, 2)


def null_conditions(conditions: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The "nothing known" version of ``conditions`` (same shapes): what guidance-off sampling conditions on."""
    batch = next(iter(conditions.values())).shape[0]
    device = next(iter(conditions.values())).device
    return drop_conditions(conditions, torch.ones(batch, dtype=torch.bool, device=device))


def condition_tensors(batch: dict[str, torch.Tensor], *, device: torch.device | None = None) -> dict[str, torch.Tensor]:
    """The conditioner's inputs picked out of a loader batch (which also holds the mel and string ids)."""
    names = (*FRAME_IDS, *FRAME_FLOATS, *GLOBAL_IDS, *CONTINUOUS, *(f"{n}_known" for n in CONTINUOUS))
    missing = [n for n in names if n not in batch]
    if missing:
        raise OstinatoError(f"the batch lacks the condition columns {missing}; is it a training-set batch?")
    return {n: batch[n].to(device) if device is not None else batch[n] for n in names}
