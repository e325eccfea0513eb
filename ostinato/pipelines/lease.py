"""One writer per output: the lease a job holds on its output folder while it writes there.

A second job on the same output either stops at once with a message naming the job that holds it (host, pid,
run id, start time) or, with ``--wait``, waits for it to finish and then resumes what is left, which is usually
nothing. Readers never need the lease.

Local folders (and network filesystems with POSIX locks) use ``flock`` on ``OUT/_writer.json``: the kernel
frees the lock when its holder dies, however it dies, so a killed job's lease is taken over at once.
Object stores have no locks: the lease is the ``_writer.json`` object itself, refreshed every
``HEARTBEAT_S`` by the holder, and taken over once it is ``STALE_S`` old. Two jobs that start within the same
second there can both believe they hold it; the readers' one-row-per-input rule (``ostinato.outputs``) keeps
that harmless, and the next ``analyze`` compacts the duplicates away.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs

from ostinato.errors import OstinatoError
from ostinato.storage import display, resolve, write_atomically

log = logging.getLogger(__name__)

LEASE_NAME = "_writer.json"
HEARTBEAT_S = 15.0
STALE_S = 90.0
#: How long an object-store writer waits before reading its lease back, to see whether another job raced it.
SETTLE_S = 2.0


class OutputBusyError(OstinatoError):
    """Another job holds the writer lease of this output."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: where and since when (UTC ISO strings), and the run's id."""

    run_id: str
    host: str
    pid: int
    started: str
    heartbeat: float = 0.0  # time.time() of the last refresh (object stores)

    def describe(self) -> str:
        return f"run {self.run_id} (host {self.host}, pid {self.pid}, started {self.started})"

    @classmethod
    def parse(cls, text: bytes | str) -> Holder | None:
        try:
            body = json.loads(text)
            return cls(run_id=str(body["run_id"]), host=str(body["host"]), pid=int(body["pid"]),
                       started=str(body["started"]), heartbeat=float(body.get("heartbeat", 0.0)))
        except (ValueError, KeyError, TypeError):
            return None

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True).encode()


def _me(run_id: str) -> Holder:
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return Holder(run_id=run_id, host=socket.gethostname(), pid=os.getpid(), started=started, heartbeat=time.time())


class _LocalLease:
    """``flock`` on the lease file; the file stays (empty when free) so every job locks the same inode."""

    def __init__(self, path: str, me: Holder) -> None:
        self.path, self.me, self.fd = path, me, None

    def try_acquire(self) -> Holder | None:
        """None when acquired, else the holder (``Holder`` with run id "?" while it is still writing its name)."""
        import fcntl

        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 65536, 0)
            os.close(fd)
            return Holder.parse(text) or Holder(run_id="?", host="?", pid=0, started="?")
        os.ftruncate(fd, 0)
        os.pwrite(fd, self.me.to_json(), 0)
        os.fsync(fd)
        self.fd = fd
        return None

    def refresh(self) -> None:
        """Nothing to do: the kernel holds the lock as long as this process lives."""

    def release(self) -> None:
        if self.fd is not None:
            import fcntl

            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


class _ObjectLease:
    """The lease object with a heartbeat, for object stores (no locks there)."""

    def __init__(self, fs: pafs.FileSystem, path: str, me: Holder) -> None:
        self.fs, self.path, self.me = fs, path, me

    def _read(self) -> Holder | None:
        try:
            with self.fs.open_input_stream(self.path) as handle:
                return Holder.parse(handle.read())
        except (FileNotFoundError, OSError):
            return None

    def _write(self) -> None:
        self.me = Holder(**{**self.me.__dict__, "heartbeat": time.time()})
        write_atomically(self.fs, self.path, self.me.to_json())

    def try_acquire(self) -> Holder | None:
        holder = self._read()
        if holder is not None and holder.run_id != self.me.run_id and time.time() - holder.heartbeat < STALE_S:
            return holder
        if holder is not None and holder.run_id != self.me.run_id:
            log.warning("taking over the writer lease of %s: no heartbeat for %.0f s", holder.describe(),
                        time.time() - holder.heartbeat)
        self._write()
        time.sleep(SETTLE_S)
        holder = self._read()
        if holder is not None and holder.run_id != self.me.run_id:
            return holder  # another job wrote after us: it goes on, we yield
        return None

    def refresh(self) -> None:
        holder = self._read()
        if holder is not None and holder.run_id != self.me.run_id:
            log.warning("the writer lease of %s was taken over by %s", self.path, holder.describe())
            return
        self._write()

    def release(self) -> None:
        holder = self._read()
        if holder is not None and holder.run_id == self.me.run_id:
            with contextlib.suppress(FileNotFoundError, OSError):
                self.fs.delete_file(self.path)


@contextlib.contextmanager
def writer_lease(
    out: str, *, run_id: str, wait: bool = False, poll_s: float = 5.0,
    on_wait: Callable[[Holder], None] | None = None,
) -> Iterator[Holder]:
    """Hold the writer lease of ``out`` for the ``with`` block.

    Raises OutputBusyError naming the holder when another job writes ``out``, unless ``wait``: then polls every
    ``poll_s`` seconds (calling ``on_wait(holder)`` once) until the lease is free.
    """
    fs, root = resolve(out)
    me = _me(run_id)
    if isinstance(fs, pafs.LocalFileSystem):
        if os.path.isfile(root):
            raise OstinatoError(f"output {root} is a file; name a folder (it is created if missing)")
        lease: Any = _LocalLease(f"{root}/{LEASE_NAME}", me)
    else:
        lease = _ObjectLease(fs, f"{root}/{LEASE_NAME}", me)
    told = False
    while (holder := lease.try_acquire()) is not None:
        if not wait:
            raise OutputBusyError(
                f"{display(fs, root)} is being written by {holder.describe()}; wait for it to finish, or pass "
                "--wait to start when it does (this job then does whatever is left)"
            )
        if not told and on_wait is not None:
            on_wait(holder)
            told = True
        time.sleep(poll_s)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(lease, stop), daemon=True, name="ostinato-lease")
    beat.start()
    try:
        yield lease.me
    finally:
        stop.set()
        beat.join(timeout=5)
        lease.release()


def _heartbeat(lease: Any, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        try:
            lease.refresh()
        except OSError as exc:  # a transient store error must not kill the job; the next beat retries
            log.warning("could not refresh the writer lease: %s", exc)
