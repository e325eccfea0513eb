"""Faults that tests inject into Ray workers from outside (a ``runtime_env`` setup hook), so that no shipped
code path carries a test hook."""

from __future__ import annotations

import fnmatch
import os

#: Inputs whose URI matches this glob kill the worker process that opens them for decoding.
CRASH_GLOB_ENV = "OSTINATO_TESTING_CRASH_DECODE_GLOB"
#: A file holding a step number: the rank-0 training worker exits after reporting that step (once: the file goes).
DIE_AT_STEP_FILE_ENV = "OSTINATO_TESTING_DIE_AT_STEP_FILE"


def crash_runtime_env(glob: str, *, die_at_step_file: str | None = None) -> dict:
    """``ray.init(runtime_env=...)`` value: workers die (exit 134) opening inputs that match ``glob``, the way a
    crashing native decoder would, so the bounded-retry path is exercised end to end; and, while the file
    ``die_at_step_file`` exists, the rank-0 training worker dies after reporting the step it names."""
    env = {CRASH_GLOB_ENV: glob}
    if die_at_step_file is not None:
        env[DIE_AT_STEP_FILE_ENV] = die_at_step_file
    return {"env_vars": env, "worker_process_setup_hook": "ostinato.testing.faults.install_worker_faults"}


def install_worker_faults() -> None:
    """Ray worker setup hook: arms every fault whose environment variable is set."""
    crash_on_matching_inputs()
    die_after_reporting_step()


def die_after_reporting_step() -> None:
    """Once the file named by DIE_AT_STEP_FILE_ENV exists, the rank-0 training worker of a run that did not resume
    removes it and exits right after logging the step it holds (its report and metrics line written), like a
    preempted node."""
    path = os.environ.get(DIE_AT_STEP_FILE_ENV)
    if not path:
        return
    from ostinato.pipelines import train

    original = train._MetricsLog.log  # only rank 0 logs

    def log(self, metrics, *, step):
        original(self, metrics, step=step)
        if metrics.get("resumed") or not os.path.exists(path):
            return
        with open(path) as handle:
            target = int(handle.read().strip())
        if step == target:
            os.remove(path)
            os._exit(1)

    train._MetricsLog.log = log


def crash_on_matching_inputs() -> None:
    """Wraps the decode stage's file opener to exit the process on inputs matching CRASH_GLOB_ENV."""
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
