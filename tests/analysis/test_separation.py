"""Demucs loading (local folders, Hugging Face cache, missing weights) and chunked separation.

Every model here is the tiny random HTDemucs from ``ostinato.testing.tiny_demucs``, saved by the tests in the
same layouts real checkpoints use and loaded through ``load_separator``, so the real loading path runs.

Per-test Hugging Face settings: ``huggingface_hub`` reads ``HF_HOME`` / ``HF_HUB_OFFLINE`` into module
constants when first imported, so a ``monkeypatch.setenv`` would not reach ``hf_hub_download`` on its own.
``ostinato.analysis.separation`` therefore reads those variables itself at call time and passes
``cache_dir`` / ``local_files_only`` / ``endpoint`` explicitly; the tests only set environment variables.
The one test that goes through ``demucs.pretrained.get_model`` (which passes nothing) patches
``huggingface_hub.constants`` instead.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import soxr
import torch
import yaml

from ostinato.analysis import separation
from ostinato.analysis.separation import Separator, SeparatorSpec, load_separator
from ostinato.errors import AnalysisError, ConfigError, WeightsMissingError
from ostinato.testing.tiny_demucs import (
    build_tiny_htdemucs,
    populate_hf_cache,
    save_hf_layout,
    save_local_repo,
)

pytestmark = pytest.mark.slow  # Demucs models separating audio

SOURCES = ["drums", "bass", "other", "vocals"]

#: Chunked and one-shot separation run the same segments with the same cross-fade weights, in the same
#: order, so they agree to float32 rounding. What can differ: the order of the bag's weighted sum (per
#: segment here, per track in apply_model) and, with batch_segments > 1, the convolution kernels torch picks
#: for a batch. Each is a few float32 ulps per operation over ~100 operations, far below 1e-5 of full scale.
REL_TOL = 1e-5


def _signal(seconds: float, sr: int, *, channels: int = 2, seed: int = 0) -> np.ndarray:
    """A tone-and-noise mix with different channels, shape (channels, n), peak about 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    base = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2
    y = np.stack([base + 0.05 * rng.standard_normal(len(t)) for _ in range(channels)])
    return y.astype(np.float32)


def _concat(separator: Separator, y: np.ndarray, sr: int) -> tuple[list[int], np.ndarray]:
    chunks = list(separator.separate_chunks(y, sr=sr))
    return [start for start, _ in chunks], np.concatenate([stems for _, stems in chunks], axis=-1)


def _assert_close(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    scale = float(np.abs(b).max())
    assert scale > 0
    assert float(np.abs(a - b).max()) <= REL_TOL * scale


@pytest.fixture(scope="module")
def model():
    return build_tiny_htdemucs(seed=0)


@pytest.fixture(scope="module")
def th_repo(model, tmp_path_factory) -> Path:
    return save_local_repo(model, tmp_path_factory.mktemp("th"), name="tiny_htdemucs")


@pytest.fixture(scope="module")
def hf_folder(model, tmp_path_factory) -> Path:
    return save_hf_layout(model, tmp_path_factory.mktemp("hf"), name="tiny_htdemucs")


@pytest.fixture(scope="module")
def reference(th_repo) -> np.ndarray:
    """One-shot separation of a 5 s signal at 44.1 kHz by the model in the .th layout."""
    sep = load_separator(SeparatorSpec(model="tiny_htdemucs", repo=th_repo, device="cpu"))
    return sep.separate(_signal(5.0, 44100), sr=44100)


# ------------------------------------------------------------------------------------------------- spec


@pytest.mark.parametrize(
    "kwargs",
    [{"overlap": 1.0}, {"overlap": -0.1}, {"shifts": -1}, {"chunk_s": 0.0}, {"segment_s": 0.0},
     {"batch_segments": 0}, {"model": ""}],
)
def test_spec_rejects_bad_values(kwargs):
    with pytest.raises(ConfigError):
        SeparatorSpec(**kwargs)


def test_spec_turns_repo_string_into_path():
    assert SeparatorSpec(repo="/tmp/models").repo == Path("/tmp/models")


# ------------------------------------------------------------------------------------------ local folders


def test_local_th_repo_loads_and_separates(th_repo):
    assert sorted(p.suffix for p in th_repo.iterdir()) == [".th", ".yaml"]
    sep = load_separator(SeparatorSpec(model="tiny_htdemucs", repo=th_repo, device="auto", chunk_s=1.0))
    assert sep.sources == SOURCES
    assert (sep.samplerate, sep.audio_channels, sep.segment_s) == (44100, 2, 2.0)
    assert sep.device == ("cuda" if torch.cuda.is_available() else "cpu")
    y = _signal(3.3, 44100)
    starts, stems = _concat(sep, y, 44100)
    assert stems.shape == (4, 2, y.shape[1]) and stems.dtype == np.float32
    assert starts == list(range(0, y.shape[1], 44100))
    assert np.isfinite(stems).all()


def test_hf_layout_folder_gives_the_same_model(hf_folder, reference):
    assert sorted(p.suffix for p in hf_folder.iterdir()) == [".safetensors", ".yaml"]
    sep = load_separator(SeparatorSpec(model="tiny_htdemucs", repo=hf_folder, device="cpu"))
    assert sep.sources == SOURCES
    np.testing.assert_array_equal(sep.separate(_signal(5.0, 44100), sr=44100), reference)


def test_folder_problems_raise_weights_missing(tmp_path, th_repo):
    with pytest.raises(WeightsMissingError, match="separation.repo="):
        load_separator(SeparatorSpec(model="tiny_htdemucs", repo=tmp_path / "absent"))
    with pytest.raises(WeightsMissingError, match="other_model"):
        load_separator(SeparatorSpec(model="other_model", repo=th_repo))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "tiny.yaml").write_text(yaml.safe_dump({"models": ["deadbeef"]}))
    (broken / "deadbeef.th").write_bytes(b"not a torch file")
    with pytest.raises(WeightsMissingError, match="could not be loaded"):
        load_separator(SeparatorSpec(model="tiny", repo=broken))


def test_bag_of_models_with_weights(tmp_path):
    """A bag like htdemucs_ft: each source taken from one model, chunked still equal to one-shot."""
    first, second = build_tiny_htdemucs(seed=1), build_tiny_htdemucs(seed=2)
    save_local_repo(first, tmp_path, name="first")
    save_local_repo(second, tmp_path, name="second")
    sigs = [yaml.safe_load((tmp_path / f"{n}.yaml").read_text())["models"][0] for n in ("first", "second")]
    weights = [[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]]
    (tmp_path / "bag.yaml").write_text(yaml.safe_dump({"models": sigs, "weights": weights}))

    y = _signal(4.0, 44100, seed=3)
    bag = load_separator(SeparatorSpec(model="bag", repo=tmp_path, device="cpu", chunk_s=1.3))
    one_shot = bag.separate(y, sr=44100)
    _, chunked = _concat(bag, y, 44100)
    _assert_close(chunked, one_shot)
    alone = [load_separator(SeparatorSpec(model=n, repo=tmp_path, device="cpu")).separate(y, sr=44100)
             for n in ("first", "second")]
    _assert_close(one_shot[[0, 2]], alone[0][[0, 2]])
    _assert_close(one_shot[[1, 3]], alone[1][[1, 3]])


# ------------------------------------------------------------------------------------ chunked vs one-shot


@pytest.mark.parametrize(
    ("sr", "channels", "chunk_s", "batch_segments", "segment_s"),
    [
        (44100, 2, 0.7, 1, None),  # chunks shorter than a segment
        (22050, 2, 2.5, 1, None),  # upsampled input, chunks longer than a segment
        (48000, 1, 1.9, 3, None),  # downsampled mono input, batched segments
        (44100, 2, 1.1, 2, 1.0),  # explicit shorter segment
    ],
)
def test_chunked_equals_one_shot(th_repo, sr, channels, chunk_s, batch_segments, segment_s):
    sep = load_separator(SeparatorSpec(model="tiny_htdemucs", repo=th_repo, device="cpu", chunk_s=chunk_s,
                                       batch_segments=batch_segments, segment_s=segment_s))
    y = _signal(5.2, sr, channels=channels, seed=sr)
    one_shot = sep.separate(y, sr=sr)
    starts, chunked = _concat(sep, y, sr)

    n_model = soxr.resample(np.ascontiguousarray(y.T), sr, 44100).shape[0] if sr != 44100 else y.shape[1]
    chunk_len = int(chunk_s * 44100)
    assert starts == list(range(0, n_model, chunk_len))  # contiguous, in order, covering everything
    assert chunked.shape == one_shot.shape == (4, 2, n_model)
    assert chunked.sum(axis=0).shape == (2, n_model)
    _assert_close(chunked, one_shot)


def test_mono_input_is_duplicated(th_repo):
    sep = load_separator(SeparatorSpec(model="tiny_htdemucs", repo=th_repo, device="cpu"))
    mono = _signal(2.5, 44100, channels=1)
    out = sep.separate(mono, sr=44100)
    np.testing.assert_array_equal(out, sep.separate(np.repeat(mono, 2, axis=0), sr=44100))
    np.testing.assert_array_equal(out, sep.separate(mono[0], sr=44100))


def test_shifts_are_deterministic_and_cover_the_track(th_repo):
    spec = SeparatorSpec(model="tiny_htdemucs", repo=th_repo, device="cpu", shifts=2, chunk_s=1.5)
    sep = load_separator(spec)
    y = _signal(3.0, 44100)
    first = _concat(sep, y, 44100)[1]
    second = _concat(sep, y, 44100)[1]
    assert first.shape == (4, 2, y.shape[1]) and np.isfinite(first).all()
    np.testing.assert_array_equal(first, second)


def test_silent_input_gives_silent_stems(th_repo):
    sep = load_separator(SeparatorSpec(model="tiny_htdemucs", repo=th_repo, device="cpu"))
    _, stems = _concat(sep, np.zeros((2, 30000), np.float32), 44100)
    assert stems.shape == (4, 2, 30000) and np.isfinite(stems).all()
    assert np.abs(stems).max() < 1e-6  # silence in, silence out (the model rescales by the input's level)


@pytest.mark.parametrize(
    ("y", "sr"),
    [
        (np.zeros((3, 1000), np.float32), 44100),  # three channels
        (np.zeros((1000, 2), np.float32), 44100),  # (n, channels) layout
        (np.zeros((2, 0), np.float32), 44100),  # empty
        (np.full((2, 100), np.nan, np.float32), 44100),
        (np.zeros((2, 100), np.float32), 0),
    ],
)
def test_bad_input_raises_before_the_first_chunk(th_repo, y, sr):
    sep = load_separator(SeparatorSpec(model="tiny_htdemucs", repo=th_repo, device="cpu"))
    with pytest.raises(AnalysisError):
        sep.separate_chunks(y, sr=sr)


def test_segment_longer_than_the_model_allows(th_repo):
    with pytest.raises(ConfigError, match="segment_s"):
        load_separator(SeparatorSpec(model="tiny_htdemucs", repo=th_repo, segment_s=3.0))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error when there is no CUDA")
def test_cuda_without_cuda_is_a_config_error(th_repo):
    with pytest.raises(ConfigError, match="cuda"):
        load_separator(SeparatorSpec(model="tiny_htdemucs", repo=th_repo, device="cuda"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(th_repo, reference):
    sep = load_separator(SeparatorSpec(model="tiny_htdemucs", repo=th_repo, device="cuda", chunk_s=1.0))
    _, chunked = _concat(sep, _signal(5.0, 44100), 44100)
    # TF32 convolutions on recent GPUs keep ~10 mantissa bits, hence the looser bound.
    assert float(np.abs(chunked - reference).max()) <= 1e-2 * float(np.abs(reference).max())


# ----------------------------------------------------------------------------------- Hugging Face cache


@pytest.fixture
def hf_home(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face home for this test, offline, with an empty torch hub cache as well."""
    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return home


@pytest.mark.parametrize("name", ["htdemucs_tiny", "hf://adefossez/htdemucs_tiny"])
def test_populated_hf_cache_loads_offline(model, hf_home, reference, name):
    populate_hf_cache(model, hf_home, name="htdemucs_tiny")
    assert (hf_home / "hub" / "models--adefossez--HTDemucs-tiny" / "refs" / "main").is_file()
    sep = load_separator(SeparatorSpec(model=name, device="cpu"))
    assert sep.sources == SOURCES
    np.testing.assert_array_equal(sep.separate(_signal(5.0, 44100), sr=44100), reference)


def test_populated_hf_cache_works_for_demucs_itself(model, hf_home, monkeypatch):
    """demucs.pretrained.get_model passes no cache_dir, so point huggingface_hub's constants at the cache."""
    from demucs.apply import BagOfModels
    from demucs.pretrained import get_model
    from huggingface_hub import constants

    populate_hf_cache(model, hf_home, name="htdemucs_tiny", namespace="someone")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    bag = get_model("hf://someone/htdemucs_tiny")
    assert isinstance(bag, BagOfModels) and bag.sources == SOURCES


@pytest.mark.parametrize("name", ["no_such_model", "htdemucs", "hf://nobody/nothing"])
def test_missing_weights_offline_fail_fast_with_instructions(hf_home, name):
    start = time.monotonic()
    with pytest.raises(WeightsMissingError) as info:
        load_separator(SeparatorSpec(model=name))
    assert time.monotonic() - start < 5.0
    message = str(info.value)
    assert repr(name) in message
    assert "separation.repo=/path/to/models" in message
    assert "HF_HOME" in message
    assert "separation.enabled=false" in message
    assert "HF_HUB_OFFLINE" in message


@pytest.mark.parametrize("name", ["no_such_model", "htdemucs"])
@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9", None])
def test_missing_weights_unreachable_network_fail_fast(hf_home, monkeypatch, name, endpoint):
    """Online mode with no network: the probe gives up at once instead of huggingface_hub's ~25 s of retries.

    ``endpoint=None`` uses the real hub (unreachable in the sandbox; on a connected machine the hub answers
    "not found" for ``no_such_model`` just as fast). ``htdemucs`` would really be downloaded with a network,
    so that case always points both download hosts at a closed local port.
    """
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    if endpoint is None and name == "htdemucs":
        pytest.skip("would download htdemucs on a connected machine")
    if endpoint is not None:
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        monkeypatch.setattr(separation, "ROOT_URL", endpoint + "/demucs/")
    start = time.monotonic()
    with pytest.raises(WeightsMissingError) as info:
        load_separator(SeparatorSpec(model=name))
    assert time.monotonic() - start < 30.0
    assert repr(name) in str(info.value) and "separation.enabled=false" in str(info.value)
