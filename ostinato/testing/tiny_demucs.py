"""Tiny randomly initialised Demucs models, saved in every layout that
:func:`~ostinato.analysis.separation.load_separator` reads, so tests exercise the real loading path without
downloading pretrained weights.

The model is an :class:`demucs.htdemucs.HTDemucs` (the architecture of ``htdemucs``) with 8 channels, depth 3,
a 256-point STFT, one cross-Transformer layer and 2-second segments: about 80 k parameters, which separates
around ten times faster than real time on one CPU core. Its output is meaningless, but has the right shapes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
import yaml
from demucs.hf import hf_repo_name
from demucs.htdemucs import HTDemucs
from demucs.states import get_state, save_with_checksum
from safetensors.torch import save_file

#: Segment length of the tiny model, seconds (``htdemucs`` uses 39/5 = 7.8 s).
TINY_SEGMENT_S = Fraction(2)


def build_tiny_htdemucs(
    *,
    sources: Sequence[str] = ("drums", "bass", "other", "vocals"),
    seed: int = 0,
    samplerate: int = 44100,
) -> HTDemucs:
    """A tiny HTDemucs in eval mode, with weights drawn from ``seed`` (torch's global RNG is left untouched).

    ``nfft=256`` makes the frequency axis collapse to one bin after depth 3 (2048 bins would need depth 4),
    so the hybrid time/frequency merge and the cross-Transformer run exactly as in the full model.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = HTDemucs(
            sources=list(sources),
            audio_channels=2,
            channels=8,
            depth=3,
            nfft=256,
            dconv_comp=2,
            t_layers=1,
            t_heads=2,
            t_hidden_scale=2.0,
            samplerate=samplerate,
            segment=TINY_SEGMENT_S,
        )
    return model.eval()


def _signature(model: torch.nn.Module) -> str:
    """Eight hex digits identifying the weights and configuration, like Demucs' experiment signatures."""
    digest = hashlib.sha256(repr(model._init_args_kwargs).encode())
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:8]


def save_local_repo(model: torch.nn.Module, folder: Path, *, name: str = "tiny_htdemucs") -> Path:
    """Save ``model`` in Demucs' ``LocalRepo`` layout: ``<sig>-<checksum>.th`` and a ``<name>.yaml`` bag.

    The ``.th`` file is the torch-saved dict ``{klass, args, kwargs, state}`` that
    ``demucs.states.load_model`` reads (float32 state). Returns ``folder``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sig = _signature(model)
    args, kwargs = model._init_args_kwargs
    package = {"klass": model.__class__, "args": args, "kwargs": kwargs, "state": get_state(model, None)}
    save_with_checksum(package, folder / f"{sig}.th")
    (folder / f"{name}.yaml").write_text(yaml.safe_dump({"models": [sig]}))
    return folder


def _encode_json(value: Any) -> Any:
    """JSON for init arguments, fractions as ``demucs.hf._decode_json`` expects them."""
    if isinstance(value, Fraction):
        return {"_type": "fraction", "numerator": value.numerator, "denominator": value.denominator}
    if isinstance(value, dict):
        return {key: _encode_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_json(item) for item in value]
    return value


def save_hf_layout(model: torch.nn.Module, folder: Path, *, name: str = "tiny_htdemucs") -> Path:
    """Save ``model`` as Demucs' Hugging Face repositories hold it: ``<name>.yaml`` and ``<sig>.safetensors``.

    The safetensors metadata carries ``klass`` (dotted class path), ``args`` and ``kwargs`` (JSON), which
    ``demucs.hf.load_safetensors_model`` reads. Returns ``folder``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sig = _signature(model)
    args, kwargs = model._init_args_kwargs
    klass = model.__class__
    metadata = {
        "klass": f"{klass.__module__}.{klass.__qualname__}",
        "args": json.dumps(_encode_json(list(args))),
        "kwargs": json.dumps(_encode_json(kwargs)),
    }
    state = {key: value.detach().cpu().contiguous().clone() for key, value in model.state_dict().items()}
    save_file(state, str(folder / f"{sig}.safetensors"), metadata=metadata)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump({"models": [sig]}))
    return folder


def populate_hf_cache(
    model: torch.nn.Module, hf_home: Path, *, name: str = "htdemucs_tiny", namespace: str = "adefossez"
) -> None:
    """Put ``model`` into a Hugging Face cache as if ``hf_hub_download`` had fetched it.

    Writes ``hf_home/hub/models--<namespace>--<hf_repo_name(name)>/`` with ``blobs/<sha256>`` files,
    ``snapshots/<revision>/<file>`` symlinks to them (copies where symlinks are not allowed) and
    ``refs/main`` naming the revision, so that with ``HF_HOME=hf_home`` and ``HF_HUB_OFFLINE=1`` the model
    loads as ``name`` (``htdemucs_tiny`` lives in ``adefossez/HTDemucs-tiny``, the repository
    ``demucs.hf.get_hf_model`` would use) or as ``hf://<namespace>/<name>``.
    """
    repo_dir = Path(hf_home) / "hub" / f"models--{namespace}--{hf_repo_name(name)}"
    with tempfile.TemporaryDirectory() as staging:
        save_hf_layout(model, Path(staging), name=name)
        files = sorted(Path(staging).iterdir())
        revision = hashlib.sha1(b"".join(f.name.encode() + f.read_bytes() for f in files)).hexdigest()
        snapshot = repo_dir / "snapshots" / revision
        (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
        snapshot.mkdir(parents=True, exist_ok=True)
        for file in files:
            blob = repo_dir / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
            shutil.copyfile(file, blob)
            link = snapshot / file.name
            link.unlink(missing_ok=True)
            try:
                link.symlink_to(os.path.relpath(blob, snapshot))
            except OSError:
                shutil.copyfile(blob, link)
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(revision)

