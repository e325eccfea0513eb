"""A job killed with SIGKILL (driver and its local Ray together) and re-run ends with one row per input."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as pads
import pytest

from ostinato import schema

pytestmark = pytest.mark.slow  # Ray, CLI subprocesses or training: deselect with -m "not slow"

CLI = [sys.executable, "-m", "ostinato.cli"]


def _kill_session(sid: int) -> None:
    """SIGKILL every process in session ``sid``: the driver and the Ray processes it started."""
    out = subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        pid, session = (int(x) for x in line.split())
        if session == sid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _shards(out: Path) -> list[Path]:
    return sorted((out / schema.TRACKS_DIR).glob("part-*.parquet")) if (out / schema.TRACKS_DIR).exists() else []


def test_sigkill_mid_run_then_rerun_gives_exactly_one_row_per_input(tmp_path):
    from ostinato.demo import write_demo_corpus

    corpus = tmp_path / "corpus"
    write_demo_corpus(corpus, n_tracks=8, seconds=10.0, seed=3)
    inputs = sorted(str(p) for p in corpus.glob("*.mp3"))
    out = tmp_path / "out"
    command = [*CLI, "analyze", str(corpus), str(out), "--quiet", "--set", "separation.enabled=false",
               "--set", "output.rows_per_shard=1", "--set", "resources.max_in_flight=2"]
    env = {**os.environ, "RAY_ADDRESS": ""}
    proc = subprocess.Popen(command, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while len(_shards(out)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, f"the job ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    written_before_kill = len(_shards(out))
    _kill_session(proc.pid)
    proc.wait(timeout=30)
    assert 2 <= written_before_kill < len(inputs)

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    table = pads.dataset(out / schema.TRACKS_DIR, format="parquet").to_table(columns=["path", "track_id", "status"])
    paths = table.column("path").to_pylist()
    assert sorted(paths) == inputs, "every input exactly once"
    assert len(set(table.column("track_id").to_pylist())) == len(inputs)
    assert set(table.column("status").to_pylist()) == {"ok"}
    # A write cut short leaves only a hidden temporary file, which readers never see.
    assert all(p.name.endswith(".inprogress") for p in (out / schema.TRACKS_DIR).glob(".*"))
