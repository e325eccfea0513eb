"""Concurrent first imports of librosa must leave numba caches that a later process can load.

Three processes import at once into an empty numba cache, as a fresh install's Ray workers do; a fourth then
loads the caches and tracks beats. Without the import lock this segfaults most of the time (numba #10128).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

IMPORT = "from ostinato.analysis.librosa_import import librosa"
TRACK = f"""{IMPORT}
import numpy as np
envelope = np.abs(np.sin(np.arange(431) / 7.0)) + 0.1
_, beats = librosa.beat.beat_track(onset_envelope=envelope, sr=22050, hop_length=512, bpm=120.0, trim=False)
print(len(beats))
"""


@pytest.mark.slow
def test_concurrent_first_imports_leave_loadable_caches(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    importers = [subprocess.Popen([sys.executable, "-c", IMPORT], env=env) for _ in range(3)]
    assert [p.wait(timeout=300) for p in importers] == [0, 0, 0]
    assert any((tmp_path / "numba").rglob("guf-beat.*.nbc")), "the caches were not written where expected"
    result = subprocess.run([sys.executable, "-c", TRACK], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"loading the cached kernels failed (exit {result.returncode}): {result.stderr}"
    assert int(result.stdout.strip()) > 10
