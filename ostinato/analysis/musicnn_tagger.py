"""Music tags from musicnn's pretrained taggers (Pons & Serra, ISMIR 2019 LBD), run in PyTorch.

musicnn's CNN reads 3 s patches of a 96-band log-mel spectrogram at 16 kHz: a front-end of "timbral"
filters (7 frames x 38 or 67 bands) and "temporal" filters (32/64/128 frames x 1 band), each max-pooled
over frequency; a mid-end of three 1-d convolutions over time with residual connections; a back-end that
pools max and mean over time into two dense layers and 50 tag logits. Two trainings share this network:
``MTT_musicnn`` (MagnaTagATune tags) and ``MSD_musicnn`` (Million Song Dataset tags).

Their TensorFlow-1 checkpoints ship inside the PyPI package ``musicnn`` (Jordi Pons, MTG-UPF, ISC licence);
they are read with ``analysis.tf_checkpoint`` and run here without TensorFlow. Install them with
``pip install --no-deps musicnn==0.1.0`` (``--no-deps``: the package would pull in TensorFlow), or point
``OSTINATO_MUSICNN_DIR`` at a folder holding ``MSD_musicnn/`` and ``MTT_musicnn/``.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr
import torch
import torch.nn.functional as F
from torch import nn

from ostinato.analysis.librosa_import import librosa
from ostinato.analysis.tf_checkpoint import read_checkpoint
from ostinato.errors import AnalysisError, WeightsMissingError
from ostinato.theory.tags import MODELS

#: Spectrogram settings of musicnn's ``configuration.py``: sample rate (Hz), FFT size and hop (samples), bands.
SR = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
#: Frames in one 3 s patch: ``librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1``.
PATCH_FRAMES = 187
#: Seconds of audio in one patch (2.992 s).
PATCH_S = PATCH_FRAMES * 256 / 16000
#: The environment variable naming a folder that holds the checkpoint folders, when musicnn is not installed.
ENV_DIR = "OSTINATO_MUSICNN_DIR"
#: The pip command that installs the checkpoints, named in errors.
INSTALL = "pip install --no-deps 'musicnn==0.1.0'"
#: Where scripts/setup.sh puts the musicnn wheel's files (``pip install --no-deps --target``), inside the venv
#: but outside site-packages, so pip never reports its unmet requirements (TensorFlow 1, numpy < 1.17).
SETUP_TARGET = Path(sys.prefix) / "share" / "ostinato" / "musicnn"
#: The option that turns the tagger off, named in errors.
OFF_OPTION = "features.music_tagger=none"


#: TensorFlow's ``tf.compat.v1.layers.batch_normalization`` default epsilon.
BN_EPS = 1e-3
#: Checkpoint variables that belong to the optimiser, not the network.
OPTIMIZER_SUFFIXES = ("/Adam", "/Adam_1")
OPTIMIZER_NAMES = ("beta1_power", "beta2_power", "global_step")


def log_mel(y: np.ndarray) -> np.ndarray:
    """musicnn's input: log10(10000 * mel + 1) of mono 16 kHz audio ``y`` (n,), shape (frames, 96), float32.

    As musicnn's ``extractor.batch_data``: a power mel spectrogram (512-sample FFT, hop 256 = 16 ms) rounded
    to float16 before the log. Frames are centred with reflect padding, librosa's default when musicnn was
    trained (it became zero padding in librosa 0.10).
    """
    mel = librosa.feature.melspectrogram(
        y=y, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, pad_mode="reflect"
    ).T
    # numpy < 2 computed ``10000 * float16 array`` in float32 (the int promoted as uint16); numpy 2 keeps
    # float16, which overflows to inf wherever mel > 6.55, as it does in loud music.
    return np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)


def patches(spec: np.ndarray, *, max_patches: int | None = None) -> np.ndarray:
    """Non-overlapping 3 s patches (n, 187, 96) of a log-mel ``spec`` (frames, 96); a partial last patch is dropped.

    ``max_patches`` keeps at most that many, spread evenly from the first patch to the last.
    """
    return np.stack([spec[s : s + PATCH_FRAMES] for s in _patch_starts(len(spec), max_patches)])


def _tf_same(x: torch.Tensor, k: int) -> torch.Tensor:
    """Zero-pad the time axis (dim 2) as TensorFlow's 'same' does for a stride-1 kernel of ``k`` frames."""
    before = (k - 1) // 2
    return F.pad(x, (0, 0, before, k - 1 - before))


class _FrontendBlock(nn.Module):
    """Conv2d over (time, mel) -> ReLU -> batch norm -> max over the remaining mel axis: (B, 1, T', 96) -> (B, C, T)."""

    def __init__(self, filters: int, kernel: tuple[int, int]):
        super().__init__()
        self.conv = nn.Conv2d(1, filters, kernel)
        self.norm = nn.BatchNorm2d(filters, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(F.relu(self.conv(x))).amax(dim=3)


class _MidendBlock(nn.Module):
    """Conv1d of 7 frames ('same' padding) -> ReLU -> batch norm: (B, C_in, T) -> (B, C_out, T)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, 7, padding=3)
        self.norm = nn.BatchNorm1d(c_out, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(F.relu(self.conv(x)))


class Musicnn(nn.Module):
    """musicnn's ``build_musicnn`` in inference mode: log-mel patches (B, T, 96) -> tag logits (B, num_classes).

    TensorFlow's layout (B, T, mel, channels) becomes (B, channels, T, mel) here; the mid-end's transposes
    (which turn channels into the axis the next convolution spans) become plain 1-d convolutions.
    """

    def __init__(self, *, n_mels: int = N_MELS, num_filt_frontend: float = 1.6, num_filt_midend: int = 64,
                 num_units_backend: int = 200, num_classes: int = 50):
        super().__init__()
        timbral, temporal = int(num_filt_frontend * 128), int(num_filt_frontend * 32)
        self.input_norm = nn.BatchNorm2d(1, eps=BN_EPS)
        self.timbral = nn.ModuleList(
            _FrontendBlock(timbral, (7, int(share * n_mels))) for share in (0.4, 0.7)
        )
        self.temporal = nn.ModuleList(_FrontendBlock(temporal, (k, 1)) for k in (128, 64, 32))
        front = 2 * timbral + 3 * temporal
        self.midend = nn.ModuleList(
            _MidendBlock(c_in, num_filt_midend) for c_in in (front, num_filt_midend, num_filt_midend)
        )
        pooled = 2 * (front + 3 * num_filt_midend)
        self.pool_norm = nn.BatchNorm1d(pooled, eps=BN_EPS)
        self.dense = nn.Linear(pooled, num_units_backend)
        self.dense_norm = nn.BatchNorm1d(num_units_backend, eps=BN_EPS)
        self.logits = nn.Linear(num_units_backend, num_classes)

    def tf_layers(self) -> list[nn.Module]:
        """The network's layers in the order models.py creates them, which fixes their checkpoint names."""
        layers: list[nn.Module] = [self.input_norm]
        for block in [*self.timbral, *self.temporal, *self.midend]:
            layers += [block.conv, block.norm]
        return [*layers, self.pool_norm, self.dense, self.dense_norm, self.logits]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_norm(x.unsqueeze(1))
        timbral_in = F.pad(x, (0, 0, 3, 3))
        front = torch.cat(
            [b(timbral_in) for b in self.timbral] + [b(_tf_same(x, b.conv.kernel_size[0])) for b in self.temporal],
            dim=1,
        )
        m1 = self.midend[0](front)
        m2 = self.midend[1](m1) + m1
        m3 = self.midend[2](m2) + m2
        features = torch.cat([front, m1, m2, m3], dim=1)  # (B, 753, T)
        # TF concatenates max and mean on a last axis, then flattens: feature i gives columns 2i (max), 2i+1 (mean)
        pooled = torch.stack([features.amax(dim=2), features.mean(dim=2)], dim=2).flatten(1)
        hidden = self.dense_norm(F.relu(self.dense(self.pool_norm(pooled))))
        return self.logits(hidden)


def _tf_name(kind: str, counts: dict[str, int]) -> str:
    """TensorFlow's automatic layer name: ``conv2d``, ``conv2d_1``, ``conv2d_2``, ... in creation order."""
    i = counts.get(kind, 0)
    counts[kind] = i + 1
    return kind if i == 0 else f"{kind}_{i}"


def _copy(param: torch.Tensor, value: np.ndarray, name: str) -> None:
    if tuple(param.shape) != value.shape:
        expected = tuple(param.shape)
        raise ValueError(f"checkpoint variable {name} has shape {value.shape}, the network expects {expected}")
    param.copy_(torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)))


def load_weights(net: Musicnn, tensors: dict[str, np.ndarray]) -> None:
    """Copy a musicnn checkpoint's variables into ``net``; every network variable must be used, with its shape."""
    counts: dict[str, int] = {}
    used: set[str] = set()

    def take(name: str) -> np.ndarray:
        if name not in tensors:
            raise ValueError(f"checkpoint variable {name} is missing")
        used.add(name)
        return tensors[name]

    with torch.no_grad():
        for layer in net.tf_layers():
            if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
                n = _tf_name("batch_normalization", counts)
                for param, var in ((layer.weight, "gamma"), (layer.bias, "beta"),
                                   (layer.running_mean, "moving_mean"), (layer.running_var, "moving_variance")):
                    _copy(param, take(f"{n}/{var}"), f"{n}/{var}")
                continue
            n = _tf_name("dense" if isinstance(layer, nn.Linear) else "conv2d", counts)
            kernel = take(f"{n}/kernel")
            if isinstance(layer, nn.Linear):
                kernel = kernel.T  # (in, out) -> (out, in)
            elif isinstance(layer, nn.Conv2d):
                kernel = kernel.transpose(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
            else:  # a TF conv2d whose kernel spans the whole width, run as Conv1d: (7, C, 1, out) -> (out, C, 7)
                kernel = kernel[:, :, 0, :].transpose(2, 1, 0)
            _copy(layer.weight, kernel, f"{n}/kernel")
            _copy(layer.bias, take(f"{n}/bias"), f"{n}/bias")
    unused = [k for k in tensors if k not in used and not k.endswith(OPTIMIZER_SUFFIXES) and k not in OPTIMIZER_NAMES]
    if unused:
        raise ValueError(f"checkpoint variables not used by the network: {sorted(unused)}")


def checkpoint_dir(model: str) -> Path:
    """The folder of ``model``'s checkpoint: the installed musicnn package's, else SETUP_TARGET's, else
    ``$OSTINATO_MUSICNN_DIR/<model>``."""
    candidates = []
    spec = importlib.util.find_spec("musicnn")  # locates the package without importing it (it imports TF)
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / model for p in spec.submodule_search_locations]
    candidates.append(SETUP_TARGET / "musicnn" / model)
    if os.environ.get(ENV_DIR):
        candidates.append(Path(os.environ[ENV_DIR]) / model)
    for folder in candidates:
        if (folder / ".index").is_file() and (folder / ".data-00000-of-00001").is_file():
            return folder
    raise WeightsMissingError(
        f"musicnn's pretrained {model} checkpoint is not installed: {INSTALL} (bash scripts/setup.sh does), "
        f"or set {ENV_DIR} to a folder holding {model}/, or analyse without it: {OFF_OPTION}"
    )


@dataclass(frozen=True)
class Tagger:
    """A loaded musicnn model: its ``name``, its tag ``labels`` in output order, and the network."""

    name: str
    labels: tuple[str, ...]
    net: Musicnn

    def probabilities(self, x: np.ndarray, *, batch_size: int = 1) -> np.ndarray:
        """Tag probabilities (n, 50) in [0, 1] of log-mel patches ``x`` (n, 187, 96), in float32.

        One patch at a time is the fastest on one CPU thread (about 50 ms a patch here; 16 at once: 110 ms).
        """
        out = []
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size], dtype=np.float32))
                out.append(torch.sigmoid(self.net(batch)).numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.float32)


@functools.cache
def load_musicnn(model: str = "MSD_musicnn") -> Tagger:
    """musicnn's ``model`` ("MSD_musicnn" or "MTT_musicnn"), read once per process; WeightsMissingError if absent."""
    if model not in MODELS:
        raise ValueError(f"unknown musicnn model {model!r}; expected one of {sorted(MODELS)}")
    net = Musicnn(num_classes=len(MODELS[model]))
    load_weights(net, read_checkpoint(f"{checkpoint_dir(model)}/"))
    return Tagger(model, MODELS[model], net.eval())


def tag_probabilities(
    y: np.ndarray, sr: int, *, model: str = "MSD_musicnn", max_patches: int | None = None
) -> tuple[list[str], np.ndarray]:
    """Tag names and their probabilities for each 3 s patch of ``y``, as musicnn's default extractor.

    Parameters
    ----------
    y : audio, shape (n,) or (channels, n); channels are averaged.
    sr : its sample rate in Hz; it is resampled to 16 kHz.
    model : "MSD_musicnn" (Million Song Dataset tags) or "MTT_musicnn" (MagnaTagATune tags).
    max_patches : keep at most this many non-overlapping patches, spread evenly over the track.

    Returns the 50 labels and probabilities of shape (n_patches, 50), patch ``i`` covering the audio from
    ``i * 187 * 256 / 16000`` s (2.992 s per patch) unless ``max_patches`` dropped some.
    Raises AnalysisError when ``y`` is shorter than one patch.
    """
    tagger = load_musicnn(model)
    return list(tagger.labels), tagger.probabilities(patch_inputs(y, sr, max_patches=max_patches))


def patch_inputs(y: np.ndarray, sr: int, *, max_patches: int | None = None) -> np.ndarray:
    """``patches(log_mel(y at 16 kHz), max_patches=...)``: (n, 187, 96), with the spectrogram computed only
    around the patches kept (one patch's audio plus two frames on each side, enough for every centred frame
    of the patch), so tagging a few patches of a long track costs a few patches' spectrograms.

    ``y`` is (n,) or (channels, n) at ``sr`` Hz. Raises AnalysisError when it is shorter than one patch.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=0)
    if sr != SR:
        y = soxr.resample(y, sr, SR).astype(np.float32)
    n_frames = 1 + len(y) // HOP  # librosa's centred frames
    starts = _patch_starts(n_frames, max_patches)
    out = []
    for start in starts:
        first = max(0, start - 2)
        excerpt = y[first * HOP : (start + PATCH_FRAMES + 2) * HOP]
        out.append(log_mel(excerpt)[start - first : start - first + PATCH_FRAMES])
    return np.stack(out)


def _patch_starts(n_frames: int, max_patches: int | None) -> np.ndarray:
    """First frames of the non-overlapping patches of a spectrogram of ``n_frames`` frames that are kept."""
    n = (n_frames - PATCH_FRAMES) // PATCH_FRAMES + 1 if n_frames >= PATCH_FRAMES else 0
    if n == 0:
        raise AnalysisError(f"the audio is shorter than one {PATCH_FRAMES * HOP / SR:.1f} s patch of musicnn")
    starts = np.arange(n) * PATCH_FRAMES
    if max_patches is not None and max_patches < n:
        if max_patches < 1:
            raise ValueError(f"max_patches must be at least 1, got {max_patches}")
        starts = starts[np.unique(np.linspace(0, n - 1, max_patches).round().astype(int))]
    return starts


def mean_tag_probabilities(y: np.ndarray, sr: int, *, max_patches: int) -> dict[str, dict[str, float]] | None:
    """Mean probability of every tag of both taggers (``{"MSD_musicnn": {"rock": 0.4, ...}, "MTT_musicnn":
    {...}}``) over at most ``max_patches`` 3 s patches of mono ``y`` (n,) at ``sr`` Hz, the patches' spectrogram
    computed once for both; None for audio shorter than one patch."""
    if len(y) < PATCH_S * sr:
        return None
    inputs = patch_inputs(y, sr, max_patches=max_patches)
    tags = {}
    for model in MODELS:
        tagger = load_musicnn(model)
        mean = tagger.probabilities(inputs).mean(axis=0)
        tags[model] = {label: float(p) for label, p in zip(tagger.labels, mean, strict=True)}
    return tags
