"""Faults that tests inject into Ray workers from outside (a ``runtime_env`` setup hook), so that no shipped
code path carries a test hook."""

from __future__ import annotations

import fnmatch
import os

#: Inputs whose URI matches this glob kill the worker process that opens them for decoding.
CRASH_GLOB_ENV = "OSTINATO_TESTING_CRASH_DECODE_GLOB"


def crash_runtime_env(glob: str) -> dict:
    """``ray.init(runtime_env=...)`` value: workers die (exit 134) opening inputs that match ``glob``, the way a
    crashing native decoder would, so the bounded-retry path is exercised end to end."""
    return {"env_vars": {CRASH_GLOB_ENV: glob},
            "worker_process_setup_hook": "ostinato.testing.faults.crash_on_matching_inputs"}


def crash_on_matching_inputs() -> None:
    """Ray worker setup hook: wraps the decode stage's file opener to exit the process on matching inputs."""
    pattern = os.environ.get(CRASH_GLOB_ENV)
    if not pattern:
        return
    from ostinato.pipelines import stages

    original = stages._open_for_decode

    def open_or_crash(uri: str):
        if fnmatch.fnmatch(uri, pattern):
            os._exit(134)
        return original(uri)

    stages._open_for_decode = open_or_crash
