"""Music source separation with Demucs: offline-first loading, and long tracks in bounded memory.

:func:`load_separator` finds a checkpoint and returns a :class:`Separator`. Checkpoints are looked up, in
order, in a local folder (``SeparatorSpec.repo``), in the Hugging Face cache or hub (the repositories that
``demucs.pretrained.get_model`` uses), and at Demucs' legacy download site; when none has them,
:class:`~ostinato.errors.WeightsMissingError` says what to do, within seconds even without a network.

How chunked separation stays exact
----------------------------------
Demucs' own ``apply_model(split=True)`` cuts the track into segments of ``segment`` seconds every
``(1 - overlap) * segment`` seconds, runs the model on each segment and cross-fades the estimates with
triangular weights (overlap-add). :meth:`Separator.separate_chunks` runs exactly those segments with exactly
those weights, but holds only the audio that unfinished segments still need: a sample is final as soon as
every segment covering it has been added, and finished audio is handed out ``chunk_s`` seconds at a time.
Concatenated chunks therefore equal the one-shot :meth:`Separator.separate` up to float rounding, whatever
``chunk_s`` is, and besides the input itself memory stays at about ``chunk_s + 2 * segment`` seconds of
audio for any track length.
The input is resampled to the model rate with a streaming ``soxr`` resampler, whose output equals
one-shot ``soxr.resample``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import soxr
import torch
import yaml
from demucs.apply import BagOfModels, apply_model
from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name, load_safetensors_model
from demucs.htdemucs import HTDemucs
from demucs.pretrained import REMOTE_ROOT, ROOT_URL, _parse_remote_files
from demucs.repo import AnyModelRepo, BagOnlyRepo, LocalRepo, RemoteRepo
from demucs.utils import center_trim

from ostinato.errors import AnalysisError, ConfigError, OstinatoError, WeightsMissingError

#: Seconds allowed to open a TCP connection to a download host before it counts as unreachable.
#: Probing first is what makes a missing model fail fast: ``huggingface_hub`` retries an unreachable
#: host five times with back-off (about 25 s) before giving up.
PROBE_TIMEOUT_S = 3.0

#: Seconds ``huggingface_hub`` waits for a file's metadata once the host is known to be reachable.
ETAG_TIMEOUT_S = 10.0

_TRUE = {"1", "on", "yes", "true"}


@dataclass(frozen=True)
class SeparatorSpec:
    """Which Demucs model to load and how to run it.

    Attributes
    ----------
    model : str
        A Demucs model name (``htdemucs``, ``htdemucs_ft``, ``htdemucs_6s``, ``mdx_extra``, ...), a single
        model signature, or ``hf://namespace/name`` for a model on the Hugging Face hub only.
    repo : Path or None
        A local model folder: Demucs' ``LocalRepo`` layout (``<sig>[-<checksum>].th`` files and a
        ``<model>.yaml`` bag) or the Hugging Face layout (``<model>.yaml`` and ``<sig>.safetensors``).
        When given, nothing is downloaded.
    device : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    segment_s : float > 0 or None
        Length of the segments the model sees, seconds; None uses the model's training length. For
        Transformer models (``htdemucs*``) it may not exceed the training length (7.8 s).
    shifts : int >= 0
        Random time shifts (up to 0.5 s) averaged ("shift trick"), which costs ``shifts`` times the compute.
        :meth:`Separator.separate_chunks` draws them per segment from a fixed seed (repeatable), and keeps
        them within the overlap so segments still tile; :meth:`Separator.separate` uses Demucs' own,
        whole-track shifts. 0 (the default) is deterministic and makes the two agree.
    overlap : float in [0, 1)
        Fraction of a segment shared with the next one; the overlap is cross-faded.
    chunk_s : float > 0
        Seconds of finished audio handed out per chunk by :meth:`Separator.separate_chunks`.
    batch_segments : int >= 1
        Segments run through the model in one batch (more keeps a GPU busier; the output is the same).
    """

    model: str = "htdemucs"
    repo: Path | None = None
    device: str = "auto"
    segment_s: float | None = None
    shifts: int = 0
    overlap: float = 0.25
    chunk_s: float = 60.0
    batch_segments: int = 1

    def __post_init__(self) -> None:
        if self.repo is not None and not isinstance(self.repo, Path):
            object.__setattr__(self, "repo", Path(self.repo))
        problems = [
            (not self.model, "separation.model must not be empty"),
            (self.segment_s is not None and not self.segment_s > 0, "separation.segment_s must be positive"),
            (self.shifts < 0, "separation.shifts must be >= 0"),
            (not 0 <= self.overlap < 1, "separation.overlap must be in [0, 1)"),
            (not self.chunk_s > 0, "separation.chunk_s must be positive"),
            (self.batch_segments < 1, "separation.batch_segments must be >= 1"),
        ]
        for bad, message in problems:
            if bad:
                raise ConfigError(f"{message}, got {self!r}.")


def load_separator(spec: SeparatorSpec) -> Separator:
    """Load the model ``spec`` names (see :func:`load_demucs`) onto ``spec.device``.

    Raises
    ------
    WeightsMissingError
        If the weights are neither local nor downloadable.
    ConfigError
        If the device is unavailable or ``spec.segment_s`` is longer than the model allows.
    """
    return Separator(load_demucs(spec.model, repo=spec.repo), spec)


def load_demucs(name: str, *, repo: Path | None = None) -> BagOfModels:
    """Load a Demucs model, always as a :class:`demucs.apply.BagOfModels` (a single model is a bag of one).

    With ``repo``, only that folder is used. Otherwise the Hugging Face cache is tried first (no network),
    then the hub unless ``HF_HUB_OFFLINE`` is set and its host answers within :data:`PROBE_TIMEOUT_S`,
    then (for names Demucs ships, unless offline) the legacy download site through torch's hub cache.
    ``HF_HOME``, ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE`` and ``HF_ENDPOINT`` are read at call time, so
    changing them after ``huggingface_hub`` was imported still takes effect.

    Raises
    ------
    WeightsMissingError
        If no source has the weights; the message names the model and the ways to provide them.
    """
    if repo is not None:
        return _load_from_folder(name, Path(repo)).eval()
    tried: list[str] = []
    bag = _load_from_hub(name, tried)
    if bag is None and not name.startswith("hf://"):
        bag = _load_from_legacy_site(name, tried)
    if bag is None:
        raise WeightsMissingError(_missing_message(name, tried))
    return bag.eval()


#: Appended to every error about a local model folder: the ways out.
_REPO_HINT = (
    " Point separation.repo at a folder that holds the model, leave it unset to use the Hugging Face cache "
    "(or download online), or set separation.enabled=false to skip separation."
)


def _missing_message(name: str, tried: Sequence[str]) -> str:
    return (
        f"Demucs weights for model {name!r} are not available locally and could not be downloaded "
        f"({'; '.join(tried)}): set separation.repo=/path/to/models to a folder of Demucs checkpoints, "
        "populate the Hugging Face cache (HF_HOME) on a connected machine and copy it here, "
        "or set separation.enabled=false."
    )


def _as_bag(model: torch.nn.Module) -> BagOfModels:
    return model if isinstance(model, BagOfModels) else BagOfModels([model])


# ----------------------------------------------------------------------------------------------- local folder


def _load_from_folder(name: str, folder: Path) -> BagOfModels:
    """The ``<base>.yaml`` bag, or the single ``<base>`` model, from ``.th`` / ``.safetensors`` files."""
    if not folder.is_dir():
        raise WeightsMissingError(
            f"separation.repo={folder} is not a folder, so Demucs model {name!r} cannot be loaded from it."
            + _REPO_HINT
        )
    base = name.removeprefix("hf://").rsplit("/", 1)[-1]
    try:
        th_repo = LocalRepo(folder)

        def load_one(sig: str) -> torch.nn.Module:
            safetensors_file = folder / f"{sig}.safetensors"
            if safetensors_file.is_file():
                return load_safetensors_model(safetensors_file)
            if th_repo.has_model(sig):
                return th_repo.get_model(sig)
            raise WeightsMissingError(
                f"Demucs model {name!r} needs {sig}.safetensors or {sig}[-checksum].th, "
                f"and separation.repo={folder} has neither." + _REPO_HINT
            )

        bag_file = folder / f"{base}.yaml"
        if bag_file.is_file():
            bag = yaml.safe_load(bag_file.read_text())
            models = [load_one(sig) for sig in bag["models"]]
            return BagOfModels(models, bag.get("weights"), bag.get("segment"))
        if (folder / f"{base}.safetensors").is_file() or th_repo.has_model(base):
            return _as_bag(load_one(base))
    except OstinatoError:
        raise
    except Exception as exc:  # corrupt files, bad checksums, unknown classes: all unusable weights
        raise WeightsMissingError(
            f"Demucs model {name!r} in separation.repo={folder} could not be loaded: {exc}." + _REPO_HINT
        ) from exc
    raise WeightsMissingError(
        f"separation.repo={folder} has no {base}.yaml bag and no {base}.th / {base}.safetensors model, "
        f"so Demucs model {name!r} cannot be loaded from it." + _REPO_HINT
    )


# ----------------------------------------------------------------------------------------- Hugging Face hub


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache folder, from ``HF_HUB_CACHE`` or ``HF_HOME/hub`` as set *now*."""
    from huggingface_hub import constants

    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(variable):
            return Path(os.path.expandvars(os.environ[variable])).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.path.expandvars(os.environ["HF_HOME"])).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE)


def hf_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is true now; when neither variable is set,
    what ``huggingface_hub`` read at import."""
    from huggingface_hub import constants

    values = [os.environ[v] for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if v in os.environ]
    if values:
        return any(value.strip().lower() in _TRUE for value in values)
    return bool(constants.HF_HUB_OFFLINE)


def _hf_endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _load_from_hub(name: str, tried: list[str]) -> BagOfModels | None:
    """The files ``demucs.hf.get_hf_model`` reads (``<name>.yaml`` and ``<sig>.safetensors`` in
    ``<namespace>/<hf_repo_name(name)>``), taken from the cache or downloaded into it."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    bare = name.removeprefix("hf://")
    namespace, base = bare.split("/", 1) if "/" in bare else (DEFAULT_NAMESPACE, bare)
    repo_id = f"{namespace}/{hf_repo_name(base)}"
    cache_dir, endpoint = hf_cache_dir(), _hf_endpoint()

    def fetch(filename: str, local_only: bool) -> str:
        return hf_hub_download(
            repo_id, filename, cache_dir=cache_dir, endpoint=endpoint, local_files_only=local_only,
            etag_timeout=ETAG_TIMEOUT_S,
        )

    def fetch_all(local_only: bool) -> tuple[dict, list[str]]:
        with open(fetch(f"{base}.yaml", local_only)) as file:
            bag = yaml.safe_load(file)
        return bag, [fetch(f"{sig}.safetensors", local_only) for sig in bag["models"]]

    try:
        bag, files = fetch_all(local_only=True)
    except LocalEntryNotFoundError:
        if hf_offline():
            tried.append(f"Hugging Face cache {cache_dir} has no {repo_id} and HF_HUB_OFFLINE is set")
            return None
        if not _reachable(endpoint):
            tried.append(f"Hugging Face cache {cache_dir} has no {repo_id} and {endpoint} is unreachable")
            return None
        try:
            bag, files = fetch_all(local_only=False)
        except Exception as exc:  # 404, auth, transient network: every one means "not from the hub"
            tried.append(f"{repo_id} could not be fetched from {endpoint}: {type(exc).__name__}")
            return None
    try:
        models = [load_safetensors_model(path) for path in files]
    except Exception as exc:
        raise WeightsMissingError(
            f"Demucs model {name!r} from {repo_id} in {cache_dir} could not be loaded: {exc}"
        ) from exc
    return BagOfModels(models, bag.get("weights"), bag.get("segment"))


# ------------------------------------------------------------------------------------ legacy download site


def _load_from_legacy_site(name: str, tried: list[str]) -> BagOfModels | None:
    """Models Demucs lists in ``demucs/remote``, via torch's hub cache (``TORCH_HOME``) or a download."""
    urls = _parse_remote_files(REMOTE_ROOT / "files.txt")
    remote = RemoteRepo(urls)
    bags = BagOnlyRepo(REMOTE_ROOT, remote)
    if remote.has_model(name):
        sigs = [name]
    elif bags.has_model(name):
        sigs = yaml.safe_load((REMOTE_ROOT / f"{name}.yaml").read_text())["models"]
    else:
        tried.append(f"{name!r} is not one of the models on Demucs' legacy download site")
        return None
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    cached = all((checkpoints / urls[sig].rsplit("/", 1)[-1]).is_file() for sig in sigs)
    if not cached:
        if hf_offline():
            tried.append("the legacy download site is not tried because HF_HUB_OFFLINE is set")
            return None
        if not _reachable(ROOT_URL):
            tried.append(f"{ROOT_URL} is unreachable")
            return None
    try:
        return _as_bag(AnyModelRepo(remote, bags).get_model(name))
    except Exception as exc:  # urllib errors, truncated downloads, bad hashes
        tried.append(f"the legacy download of {name!r} failed: {exc}")
        return None


def _reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to ``url``'s host (or to the HTTPS proxy, when one is set) opens in time."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    no_proxy_env = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
    no_proxy = [h.strip().lstrip(".") for h in no_proxy_env.split(",")]
    proxy = next(
        (os.environ[v]
         for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy") if os.environ.get(v)),
        None,
    )
    if proxy and host and not any(h and (host == h or host.endswith("." + h)) for h in no_proxy):
        proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = proxy_parts.hostname, proxy_parts.port or 80
    if not host:
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# ------------------------------------------------------------------------------------------------ running


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(
            f"separation.device={device!r} is not a torch device (use auto, cpu or cuda:N)."
        ) from exc
    if resolved.type == "cuda" and (
        not torch.cuda.is_available() or (resolved.index or 0) >= torch.cuda.device_count()
    ):
        raise ConfigError(f"separation.device={device!r} was asked for but is not available here.")
    return resolved


class Separator:
    """A loaded Demucs model (or bag of models) that separates waveforms into sources.

    Attributes
    ----------
    samplerate : int
        Model sample rate, Hz; every output is at this rate.
    audio_channels : int
        Channels the model takes and returns (2 for every released Demucs).
    sources : list[str]
        Source names in output order, e.g. ``["drums", "bass", "other", "vocals"]``.
    device : str
        Where the model runs, e.g. ``"cpu"`` or ``"cuda:0"``.
    segment_s : float
        Length of the segments the model sees, seconds.
    model : demucs.apply.BagOfModels
        The underlying model, in float32 on ``device`` (Demucs is not safe in half precision).
    """

    def __init__(self, model: BagOfModels, spec: SeparatorSpec) -> None:
        device = _resolve_device(spec.device)
        self.spec = spec
        self.model = model.to(device).float().eval()
        self.samplerate = int(model.samplerate)
        self.audio_channels = int(model.audio_channels)
        self.sources = list(model.sources)
        self.device = str(device)
        self._torch_device = device
        if spec.segment_s is not None:
            if spec.segment_s > model.max_allowed_segment:
                raise ConfigError(
                    f"separation.segment_s={spec.segment_s} is longer than {spec.model!r} allows "
                    f"({float(model.max_allowed_segment):.2f} s)."
                )
            segment: float | Fraction = spec.segment_s
        else:
            # Released bags share one segment length; were they to differ, the shortest fits every model.
            segment = min(m.segment for m in model.models)
        self.segment_s = float(segment)
        # Same integer arithmetic as demucs.apply.apply_model, so the segment grid is identical.
        self._seg_len = int(self.samplerate * segment)
        self._stride = int((1 - spec.overlap) * self._seg_len)
        ramp = np.concatenate([np.arange(1, self._seg_len // 2 + 1),
                               np.arange(self._seg_len - self._seg_len // 2, 0, -1)]).astype(np.float32)
        self._ramp = ramp / ramp.max()
        # Shifts jitter each segment by up to 0.5 s; bounded by the overlap so that segments still tile.
        self._max_shift = min(int(0.5 * self.samplerate), self._seg_len - self._stride) if spec.shifts else 0
        weights = torch.tensor(model.weights, dtype=torch.float32)  # (n_models, n_sources)
        self._weights = weights.to(device)
        self._totals = weights.sum(0).to(device)
        valid = [self._valid_length(m, self._seg_len) for m in model.models]
        self._lookahead = max(self._seg_len, *(v - (v - self._seg_len) // 2 for v in valid))
        self._lookback = max(valid) + self._max_shift

    def __repr__(self) -> str:
        return (f"Separator(model={self.spec.model!r}, sources={self.sources}, samplerate={self.samplerate}, "
                f"device={self.device!r}, segment_s={self.segment_s:.2f})")

    # ------------------------------------------------------------------------------------------- public

    def separate_chunks(self, y: np.ndarray, *, sr: int) -> Iterator[tuple[int, np.ndarray]]:
        """Separate a track and yield it chunk by chunk, in order.

        Parameters
        ----------
        y : np.ndarray [shape=(channels, n) or (n,)]
            Waveform at ``sr`` Hz, full scale 1; mono is duplicated to the model's channels.
        sr : int > 0
            Sample rate of ``y``, Hz; resampled to :attr:`samplerate` with soxr.

        Yields
        ------
        (start, stems) : tuple[int, np.ndarray [shape=(n_sources, audio_channels, m), float32]]
            ``start`` is the index of the chunk's first sample at :attr:`samplerate`. Chunks are contiguous,
            ``chunk_s`` seconds long except the last, and cover the whole resampled input; concatenated,
            they equal :meth:`separate` up to float rounding when ``shifts == 0`` (the same segments and
            cross-fades).
            The stems sum to the input without its DC offset, up to the model's error.

        Raises
        ------
        AnalysisError
            If ``y`` is empty, not finite, or has a channel count other than 1 or ``audio_channels``
            (raised here, before the first chunk).
        """
        x, offset, scale = self._prepare(y, sr)
        return self._stream(x, sr, offset, scale)

    def separate(self, y: np.ndarray, *, sr: int) -> np.ndarray:
        """Separate a short track in one call of ``demucs.apply.apply_model``.

        Takes ``y`` and ``sr`` as :meth:`separate_chunks` and returns
        ``np.ndarray [shape=(n_sources, audio_channels, n_model), float32]`` at :attr:`samplerate`; it holds
        the whole resampled track and its stems in memory, so prefer :meth:`separate_chunks` for long input.
        """
        x, offset, scale = self._prepare(y, sr)
        z = (x - offset) / scale
        if sr != self.samplerate:
            z = soxr.resample(np.ascontiguousarray(z.T), sr, self.samplerate, quality="HQ").T
        mix = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))[None]
        with torch.inference_mode():
            out = apply_model(
                self.model, mix, shifts=self.spec.shifts, split=True, overlap=self.spec.overlap,
                segment=self.spec.segment_s, device=self._torch_device, progress=False,
            )[0]
        return (out.float().cpu().numpy() * scale).astype(np.float32)

    # ----------------------------------------------------------------------------------------- internals

    def _prepare(self, y: np.ndarray, sr: int) -> tuple[np.ndarray, float, float]:
        """Checked ``(audio_channels, n)`` float32 copy of ``y`` and the normalisation Demucs applies
        (offset and scale of the channel mean), computed once for the whole track so chunks agree."""
        if not (isinstance(sr, (int, np.integer)) and sr > 0):
            raise AnalysisError(f"sr must be a positive integer number of Hz, got {sr!r}.")
        x = np.asarray(y, dtype=np.float32)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[1] == 0:
            raise AnalysisError(
                f"expected a non-empty waveform of shape (channels, n), got shape {np.shape(y)}."
            )
        if x.shape[0] not in (1, self.audio_channels):
            raise AnalysisError(
                f"expected 1 or {self.audio_channels} channels in shape (channels, n), got shape {x.shape}."
            )
        if not np.isfinite(x).all():
            raise AnalysisError("the waveform contains NaN or infinite samples.")
        if x.shape[0] != self.audio_channels:
            x = np.repeat(x, self.audio_channels, axis=0)
        ref = x.mean(axis=0, dtype=np.float64)
        offset, std = float(ref.mean()), float(ref.std())
        return x, offset, (std if std > 1e-8 else 1.0)

    def _valid_length(self, model: torch.nn.Module, length: int) -> int:
        """Input length ``model`` runs on for ``length`` output samples, as ``apply_model(split=False)``."""
        if isinstance(model, HTDemucs) and self.spec.segment_s is not None:
            return int(self.spec.segment_s * self.samplerate)
        if hasattr(model, "valid_length"):
            return int(model.valid_length(length))
        return length

    def _stream(
        self, x: np.ndarray, sr: int, offset: float, scale: float
    ) -> Iterator[tuple[int, np.ndarray]]:
        channels, n_in = x.shape
        rate, stride = self.samplerate, self._stride
        chunk_len = max(1, int(self.spec.chunk_s * rate))
        block = max(1, int(self.spec.chunk_s * sr))
        resampler = None
        if sr != rate:
            resampler = soxr.ResampleStream(sr, rate, channels, dtype="float32", quality="HQ")
        rng = np.random.default_rng(0)
        n_shift = max(1, self.spec.shifts)

        buf = np.zeros((channels, 0), np.float32)  # normalised input at model rate, from sample buf_start
        buf_start = 0
        acc = np.zeros((len(self.sources), channels, 0), np.float32)  # weighted estimates from out_start
        acc_w = np.zeros(0, np.float32)  # summed weights
        out_start = 0
        next_offset = 0  # next segment on the grid 0, stride, 2 * stride, ...
        total: int | None = None  # resampled length, known once the input is exhausted
        pos = 0
        while True:
            piece = (x[:, pos:pos + block] - offset) / scale
            pos += block
            last = pos >= n_in
            if resampler is not None:
                piece = resampler.resample_chunk(np.ascontiguousarray(piece.T), last=last).T
            buf = np.concatenate([buf, piece], axis=1)
            if last:
                total = buf_start + buf.shape[1]

            starts = []
            while (next_offset < total) if total is not None else (
                buf_start + buf.shape[1] >= next_offset + self._lookahead
            ):
                for _ in range(n_shift):
                    jitter = int(rng.integers(0, self._max_shift + 1)) if self._max_shift else 0
                    starts.append(next_offset - jitter)
                next_offset += stride
            for batch, length in self._batches(starts, total):
                estimates = self._estimate(buf, buf_start, batch, length, total)
                for start, estimate in zip(batch, estimates, strict=True):
                    lo, hi = max(start, 0), start + length  # segments never reach past `total`
                    grow = hi - out_start - acc.shape[-1]
                    if grow > 0:
                        acc = np.concatenate([acc, np.zeros((*acc.shape[:2], grow), np.float32)], axis=-1)
                        acc_w = np.concatenate([acc_w, np.zeros(grow, np.float32)])
                    ramp = self._ramp[lo - start:hi - start]
                    acc[..., lo - out_start:hi - out_start] += estimate[..., lo - start:hi - start] * ramp
                    acc_w[lo - out_start:hi - out_start] += ramp

            done = total is not None and next_offset >= total
            final = total if done else max(0, next_offset - self._max_shift)
            while final - out_start >= chunk_len or (done and final > out_start):
                m = min(chunk_len, final - out_start)
                yield out_start, (acc[..., :m] / acc_w[:m] * scale).astype(np.float32)
                acc, acc_w, out_start = acc[..., m:], acc_w[m:], out_start + m
            if done:
                return
            keep_from = max(0, next_offset - self._lookback)
            if keep_from > buf_start:
                buf, buf_start = buf[:, keep_from - buf_start:], keep_from

    def _batches(self, starts: list[int], total: int | None) -> Iterator[tuple[list[int], int]]:
        """Group segment starts into runs of at most ``batch_segments`` with the same output length."""
        batch: list[int] = []
        batch_len = -1
        for start in starts:
            length = self._seg_len if total is None else min(total - start, self._seg_len)
            if batch and (length != batch_len or len(batch) == self.spec.batch_segments):
                yield batch, batch_len
                batch = []
            batch.append(start)
            batch_len = length
        if batch:
            yield batch, batch_len

    def _estimate(self, buf: np.ndarray, buf_start: int, starts: list[int], length: int,
                  total: int | None) -> np.ndarray:
        """Weighted bag estimate of segments ``[s, s + length)``, shape ``(len(starts), S, C, length)``.

        Each sub-model sees the segment centred in its valid input length, with real signal around it
        where there is some and zeros beyond the track, like ``TensorChunk.padded`` in Demucs."""
        estimate = None
        for index, model in enumerate(self.model.models):
            valid = self._valid_length(model, length)
            pad_left = (valid - length) // 2
            windows = np.stack([self._window(buf, buf_start, s - pad_left, valid, total) for s in starts])
            with torch.inference_mode():
                out = model(torch.from_numpy(windows).to(self._torch_device))
                out = center_trim(out, length) * self._weights[index][:, None, None]
                estimate = out if estimate is None else estimate + out
        assert estimate is not None
        with torch.inference_mode():
            estimate = estimate / self._totals[:, None, None]
        return estimate.float().cpu().numpy()

    @staticmethod
    def _window(buf: np.ndarray, buf_start: int, start: int, length: int, total: int | None) -> np.ndarray:
        """Samples ``[start, start + length)`` of the track (zeros outside it) from ``buf``."""
        lo = max(start, 0)
        hi = start + length if total is None else min(start + length, total)
        assert lo >= buf_start and hi <= buf_start + buf.shape[1], "separation buffer bookkeeping error"
        window = np.zeros((buf.shape[0], length), np.float32)
        if hi > lo:
            window[:, lo - start:hi - start] = buf[:, lo - buf_start:hi - buf_start]
        return window


__all__ = [
    "ETAG_TIMEOUT_S",
    "PROBE_TIMEOUT_S",
    "Separator",
    "SeparatorSpec",
    "hf_cache_dir",
    "hf_offline",
    "load_demucs",
    "load_separator",
]
