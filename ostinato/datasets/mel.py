"""Log-mel spectrograms of training segments."""

from __future__ import annotations

import numpy as np

from ostinato.datasets.shards import LOG_MEL_FLOOR


def log_mel(
    y: np.ndarray,
    *,
    sr: int,
    n_fft: int = 1024,
    hop_length: int = 256,
    n_mels: int = 80,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> np.ndarray:
    """Natural-log mel power ``log(mel + 1e-5)`` of a mono signal.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float, mono audio at ``sr`` Hz.
    sr : sample rate in Hz.
    n_fft, hop_length : STFT size and hop in samples (Hann window, frames centred: frame ``t`` is centred at
        ``t * hop_length / sr`` seconds, which is what the condition tracks align to).
    n_mels, fmin, fmax : mel bins (Slaney scale and norm, as librosa's default) and band edges in Hz
        (``fmax`` None: ``sr / 2``).

    Returns float32 of shape ``(n_mels, 1 + n // hop_length)``.
    """
    from ostinato.analysis.librosa_import import librosa

    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"log_mel needs mono audio of shape (n,), got {y.shape}")
    power = librosa.feature.melspectrogram(
        y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax, power=2.0,
    )
    return np.log(power + LOG_MEL_FLOOR).astype(np.float32)
