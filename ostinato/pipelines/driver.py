"""What the Ray drivers of `analyze` and `build-dataset` share: joining Ray, run ids, a bounded number of calls
in flight (the ``ray.wait`` back-pressure pattern), telling node loss from an input's own failure, one-line
failure reasons, and refusing to mix configurations in one output."""

from __future__ import annotations

import datetime
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Sized
from typing import Any

import ray

from ostinato.errors import OstinatoError

_END = object()


def connect(address: str | None = None, *, logging_level: int = logging.WARNING, log_to_driver: bool = True) -> None:
    """Join the Ray cluster at ``address`` (``auto`` or ``ray://host:port``; default ``RAY_ADDRESS``), or
    start an embedded local one when neither is given. An already-connected session is reused.
    ``log_to_driver`` forwards workers' output to this console (training turns it off unless verbose)."""
    if ray.is_initialized():
        return
    # "local" always starts a new instance: plain ray.init() would join whatever cluster `ray start` left here.
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    if address == "local":
        # Ray announces at WARNING that the embedded cluster it starts for us uses token authentication.
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    ray.init(address=address, include_dashboard=False, logging_level=logging_level, log_to_driver=log_to_driver)



def new_run_id() -> str:
    """A sortable, unique id for one run: UTC start time plus a random suffix (shard names carry it)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def window_size(max_in_flight: int | None) -> int:
    """Calls in flight: ``max_in_flight`` when set, else twice the cluster's CPUs (at least 2)."""
    return max_in_flight or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))


class BoundedCalls:
    """At most ``window`` Ray calls in flight, each with the caller's record of it.

    ``run`` submits items while there is room, waits for any call to finish, hands it to ``on_ready`` (which may
    ``add`` follow-up calls: they count against the window too), and ends when items and calls are exhausted.
    Memory stays bounded on any corpus size because items are pulled from an iterable only when there is room.
    """

    def __init__(self, window: int, *, waiting: Sized = ()) -> None:
        self.window = window
        self.jobs: dict[Any, Any] = {}
        self.waiting = waiting  # the caller's queue of items held outside Ray (an ActorPool's): they take room too

    def add(self, ref: Any, job: Any) -> None:
        self.jobs[ref] = job

    def run(self, items: Iterable[Any], *, submit: Callable[[Any], None], on_ready: Callable[[Any, Any], None],
            on_tick: Callable[[], None] | None = None) -> None:
        pending = iter(items)
        upcoming = next(pending, _END)
        while upcoming is not _END or self.jobs or self.waiting:
            while upcoming is not _END and len(self.jobs) + len(self.waiting) < self.window:
                submit(upcoming)
                upcoming = next(pending, _END)
            ready, _ = ray.wait(list(self.jobs), num_returns=1, timeout=1.0)
            if on_tick is not None:
                on_tick()
            for ref in ready:
                on_ready(ref, self.jobs.pop(ref))


#: Failures of the machinery rather than of the input: a task lost with its node is one of these.
SYSTEM_FAILURES = (
    ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.RayActorError,
    ray.exceptions.ObjectLostError, ray.exceptions.RaySystemError, ray.exceptions.LocalRayletDiedError,
)
#: An input caught by this many node losses in a row is recorded as an error after all.
MAX_NODE_LOSSES = 3


class NodeWatch:
    """Notices lost nodes, so that work lost with a node is resubmitted rather than recorded as an error.

    Ray retries a task whose worker died ``crash_retries`` times, on any node; when the retries run out while
    nodes are leaving (a spot instance reclaimed, a node drained), the input is not at fault.
    """

    def __init__(self) -> None:
        self.alive = self._alive()
        self.last_loss = float("-inf")

    @staticmethod
    def _alive() -> set[str]:
        return {node["NodeID"] for node in ray.nodes() if node.get("Alive")}

    def lost_since(self, since: float) -> bool:
        """True when a node that was alive has died since ``since`` (time.monotonic())."""
        alive = self._alive()
        if self.alive - alive:
            self.last_loss = time.monotonic()
        self.alive = alive
        return self.last_loss >= since



def failure_reason(exc: Exception) -> str:
    """One line saying why a Ray task failed, for an error row."""
    if isinstance(exc, ray.exceptions.OutOfMemoryError):
        return "ran out of memory (the worker was killed by Ray's memory monitor)"
    if isinstance(exc, ray.exceptions.WorkerCrashedError | ray.exceptions.RayActorError):
        return "the worker process died (crashed or was killed) on every retry"
    if isinstance(exc, ray.exceptions.RayTaskError):
        return f"unexpected {type(exc.cause).__name__}: {exc.cause}"
    return f"{type(exc).__name__}: {exc}"


def refuse_other_config(card: dict[str, Any] | None, results_hash: str, *, out: str, force: bool, holds: str) -> None:
    """OstinatoError when ``out``'s card was written with another configuration hash, unless ``force``."""
    if card is not None and card.get("config_hash") != results_hash and not force:
        raise OstinatoError(
            f"{out} holds {holds} (hash {card.get('config_hash')}, now {results_hash}); write to a new output, "
            "or pass --force to mix them"
        )
