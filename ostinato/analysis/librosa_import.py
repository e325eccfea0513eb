"""librosa, imported so that its numba caches are compiled by one process at a time on each machine.

librosa's ``@guvectorize(cache=True)`` kernels (beat tracking, peak picking, pitch, zero crossings) compile
when their module is imported and write two cache files each. When several processes compile at once, as a
fresh install's Ray workers do, the pair can come from different processes and the next process to load it
segfaults inside ``librosa.beat.beat_track`` (numba issue #10128). Importing under an exclusive file lock
lets the first process compile and write every cache; the others then load complete caches.

Analysis modules take librosa from here: ``from ostinato.analysis.librosa_import import librosa``.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import os
import tempfile
from collections.abc import Iterator

#: librosa modules that compile cached gufuncs when imported (librosa loads ``beat`` lazily otherwise).
GUFUNC_MODULES = ("librosa", "librosa.core.audio", "librosa.core.pitch", "librosa.util.utils", "librosa.beat")

LOCK_PATH = os.path.join(tempfile.gettempdir(), "ostinato-librosa-numba.lock")


@contextlib.contextmanager
def numba_cache_lock() -> Iterator[None]:
    """Hold this machine's lock for writing numba caches (librosa's, and ours: ``analysis.beat_rnn``)."""
    with open(LOCK_PATH, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _import_serially():
    with numba_cache_lock():
        for name in GUFUNC_MODULES:
            importlib.import_module(name)
    return importlib.import_module("librosa")


librosa = _import_serially()

__all__ = ["librosa"]
