"""A real two-node Ray cluster on loopback: `ostinato analyze --address` spreads tracks over both nodes, and
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

CLI = [sys.executable, "-m", "ostinato.cli"]


def _rows(out: Path) -> list[dict]:
    folder = out / schema.TRACKS_DIR
    if not any(folder.glob("part-*.parquet")):
        return []
    table = pads.dataset(folder, format="parquet").to_table(columns=["path", "status", "worker_node", "error"])
    return table.to_pylist()


@pytest.fixture
def cluster():
    """Head and one worker node, 1 CPU each, on this machine (Ray's own multi-node test harness)."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster, worker
    cluster.shutdown()


def test_analyze_on_two_nodes_survives_losing_one(cluster, tmp_path):
    from ostinato.demo import write_demo_corpus

    ray_cluster, worker = cluster
    corpus = tmp_path / "corpus"
    write_demo_corpus(corpus, n_tracks=8, seconds=6.0, seed=5)
    inputs = sorted(str(p) for p in corpus.glob("*.mp3"))
    out = tmp_path / "out"
    command = [*CLI, "analyze", str(corpus), "--out", str(out), "--address", ray_cluster.address, "--quiet",
               "separation.enabled=false", "output.rows_per_shard=1", "resources.max_in_flight=4"]
    env = {**os.environ, "RAY_ADDRESS": ""}
    job = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    worker_tag = worker.node_id[:8]

    # Kill the worker node as soon as it has finished a track, while later tracks are still in flight.
    deadline = time.monotonic() + 300
    while job.poll() is None and time.monotonic() < deadline:
        if any(r["worker_node"].endswith(worker_tag) for r in _rows(out)):
            break
        time.sleep(0.2)
    before_kill = _rows(out)
    assert job.poll() is None, f"the job ended before the node could be killed: {job.stderr.read()[-2000:]}"
    assert len(before_kill) < len(inputs)
    ray_cluster.remove_node(worker, allow_graceful=False)

    stderr = job.communicate(timeout=400)[1]
    # Ray retries the lost tasks (and rebuilds their lost inputs) on the surviving node, so the job itself
    # finishes; re-running the command would be the recovery if it did not.
    assert job.returncode == 0, stderr[-3000:]
    rows = _rows(out)
    assert sorted(r["path"] for r in rows) == inputs, "exactly one row per input"
    nodes = {r["worker_node"].rsplit("/", 1)[-1] for r in rows}
    head_tag = ray_cluster.head_node.node_id[:8]
    assert {head_tag, worker_tag} <= nodes, nodes  # tracks ran on both nodes
    # Tracks in flight on the lost node were retried on the head node, not recorded as failures.
    assert [r for r in rows if r["status"] != "ok"] == []
