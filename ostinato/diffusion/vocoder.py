"""Mel-to-audio: Griffin-Lim built in, or a local pretrained vocoder a user supplies.

The mels are the training set's: natural-log mel power ``log(mel + 1e-5)`` (Slaney mel scale and norm, as
``ostinato.datasets.mel.log_mel``). A pretrained vocoder is a TorchScript file (``torch.jit.save``) mapping
log-mel (B, n_mels, n_frames) float32 to audio (B, n) at the training set's sample rate (e.g. an exported
HiFi-GAN trained on the same mel parameters); nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ostinato.datasets.shards import LOG_MEL_FLOOR
from ostinato.errors import OstinatoError


class Vocoder(Protocol):
    def __call__(self, log_mel: np.ndarray) -> np.ndarray:
        """Audio (n,) float32 in [-1, 1] of one log-mel (n_mels, n_frames)."""
        ...


@dataclass(frozen=True)
class GriffinLimVocoder:
    """Phase reconstruction by Griffin-Lim (``librosa.feature.inverse.mel_to_audio``); no weights needed.
    Mel parameters are the training set's: sample rate (Hz), FFT size and hop (samples), band edges (Hz)."""

    sample_rate: int
    n_fft: int
    hop_length: int
    fmin: float = 0.0
    fmax: float | None = None
    n_iter: int = 32

    def __call__(self, log_mel: np.ndarray) -> np.ndarray:
        from ostinato.analysis.librosa_import import librosa

        power = np.maximum(np.exp(np.asarray(log_mel, dtype=np.float32)) - LOG_MEL_FLOOR, 0.0)
        audio = librosa.feature.inverse.mel_to_audio(
            power, sr=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length, fmin=self.fmin,
            fmax=self.fmax, power=2.0, n_iter=self.n_iter,
        )
        return _normalise(audio)


@dataclass
class TorchScriptVocoder:
    """A local pretrained vocoder exported with TorchScript (see module docstring)."""

    path: Path

    def __post_init__(self) -> None:
        import torch

        if not Path(self.path).is_file():
            raise OstinatoError(
                f"--vocoder {self.path} does not exist; give the path of a TorchScript vocoder file, or leave "
                "--vocoder out to use Griffin-Lim"
            )
        self.model = torch.jit.load(str(self.path), map_location="cpu").eval()

    def __call__(self, log_mel: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            audio = self.model(torch.from_numpy(np.asarray(log_mel, dtype=np.float32))[None])
        return _normalise(audio.reshape(-1).numpy())


def load_vocoder(path: str | Path | None, *, mel: dict) -> Vocoder:
    """Griffin-Lim for ``path`` None, else the TorchScript vocoder at ``path``; ``mel`` the checkpoint's mel
    parameters (sample_rate, n_fft, hop_length, fmin, fmax)."""
    if path is None:
        return GriffinLimVocoder(
            sample_rate=mel["sample_rate"], n_fft=mel["n_fft"], hop_length=mel["hop_length"], fmin=mel["fmin"],
            fmax=mel["fmax"],
        )
    return TorchScriptVocoder(Path(path))


def _normalise(audio: np.ndarray, *, peak: float = 0.9) -> np.ndarray:
    """Scale to ``peak`` so the WAV never clips (Griffin-Lim's level is arbitrary anyway)."""
    audio = np.nan_to_num(np.asarray(audio, dtype=np.float32))
    top = float(np.max(np.abs(audio))) if audio.size else 0.0
    return audio * (peak / top) if top > 0 else audio
