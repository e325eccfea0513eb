"""A real two-node Ray cluster on loopback: `ostinato analyze --address` runs tracks on both nodes, and
losing the worker node mid-job still ends with exactly one row per input."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as pads
import pytest

from ostinato import schema

pytestmark = pytest.mark.slow  # Ray, CLI subprocesses or training: deselect with -m "not slow"

CLI = [sys.executable, "-m", "ostinato.cli"]


def _rows(out: Path) -> list[dict]:
    folder = out / schema.TRACKS_DIR
    if not any(folder.glob("part-*.parquet")):
        return []
    table = pads.dataset(folder, format="parquet").to_table(columns=["path", "status", "worker_node", "error"])
    return table.to_pylist()


def _node(row: dict) -> str:
    return row["worker_node"].rsplit("/", 1)[-1]  # "hostname/<short Ray node id>"


@pytest.fixture
def cluster():
    """Head and one worker node, 1 CPU each, on this machine (Ray's own multi-node test harness), with this
    process connected as a driver so the test can place work on a chosen node."""
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="WARNING")
    yield cluster, worker
    ray.shutdown()
    cluster.shutdown()


def test_analyze_on_two_nodes_survives_losing_one(cluster, tmp_path):
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from ostinato.demo import write_demo_corpus

    ray_cluster, worker = cluster
    head_id, worker_id = ray_cluster.head_node.node_id, worker.node_id
    corpus = tmp_path / "corpus"
    write_demo_corpus(corpus, n_tracks=8, seconds=20.0, seed=5)
    inputs = sorted(str(p) for p in corpus.glob("*.mp3"))
    out = tmp_path / "out"

    # Hold the head's only CPU so the job's first tracks must run on the worker node; freed when that node dies.
    @ray.remote(num_cpus=1)
    class CpuHolder:
        def ready(self) -> bool:
            return True

    holder = CpuHolder.options(scheduling_strategy=NodeAffinitySchedulingStrategy(head_id, soft=False)).remote()
    ray.get(holder.ready.remote(), timeout=60)

    command = [*CLI, "analyze", str(corpus), str(out), "--address", ray_cluster.address, "--quiet",
               "--set", "separation.enabled=false", "--set", "output.rows_per_shard=1",
               "--set", "resources.max_in_flight=4"]
    job = subprocess.Popen(command, env={**os.environ, "RAY_ADDRESS": ""}, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while job.poll() is None and time.monotonic() < deadline and len(_rows(out)) < 2:
        time.sleep(0.2)
    before_kill = _rows(out)
    assert job.poll() is None, f"the job ended before the node could be killed: {job.stderr.read()[-2000:]}"
    assert len(before_kill) < len(inputs) and {_node(r) for r in before_kill} == {worker_id[:8]}

    # Lose the worker node with tracks in flight on it; the head's CPU becomes free for the rest.
    ray_cluster.remove_node(worker, allow_graceful=False)
    ray.kill(holder)
    stderr = job.communicate(timeout=400)[1]
    # Ray retries the lost tasks (and rebuilds their lost inputs) on the surviving node, so the job itself
    # finishes; re-running the command would be the recovery if it did not.
    assert job.returncode == 0, stderr[-3000:]
    rows = _rows(out)
    assert sorted(r["path"] for r in rows) == inputs, "exactly one row per input"
    assert {_node(r) for r in rows} == {head_id[:8], worker_id[:8]}  # tracks ran on both nodes
    # Tracks in flight on the lost node were retried on the head node, not recorded as failures.
    assert [r for r in rows if r["status"] != "ok"] == []
