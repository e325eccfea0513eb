"""Fault injection for `ostinato analyze`: after every fault, exactly one row per input, none lost.

On a real two-node Ray cluster on this machine (``ray.cluster_utils.Cluster``: a head and a worker node), each
run analyses the demo corpus (plus a broken file, which must end as exactly one error row) into a fresh output
with the real CLI (``--address``), and injects faults at random points:

  driver  SIGKILL of the `ostinato analyze` process mid-run (the job is then run again)
  worker  SIGKILL of a Ray worker process while it analyses a track (Ray retries the task)
  node    the worker node killed without warning while tracks are in flight on it (a fresh node joins after)
  twice   a second `ostinato analyze --wait` on the same output started while the first runs
  shard   a finished shard truncated (as by a copy tool or a full disk) before the job is run again

After the faults the job is re-run until it exits 0 (at most three times), as a user would, and the output is
counted: rows in the shards, duplicates (rows beyond one per input), lost inputs (no row, no alias), error rows
other than the broken file's, and the rows `ostinato query` sees. Target: 0 duplicates, 0 lost, 0 unexpected
errors.

Usage: python bench/faults.py [--runs 10 --tracks 6 --seconds 8 --seed 0] [--json bench/results/faults.json]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "ostinato.cli"]
KINDS = ("driver", "worker", "node", "twice", "shard")
OVERRIDES = [word for override in ("separation.enabled=false", "output.rows_per_shard=1", "resources.max_in_flight=4")
             for word in ("--set", override)]


def _visible_shards(out: Path) -> list[Path]:
    folder = out / "tracks"
    return sorted(folder.glob("[!._]*.parquet")) if folder.exists() else []


def _analyze(corpus: Path, out: Path, address: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "RAY_ADDRESS": ""}
    return subprocess.Popen([*CLI, "analyze", str(corpus), str(out), "--address", address, "--quiet",
                             *extra, *OVERRIDES], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def _wait_for_rows(out: Path, proc: subprocess.Popen, rows: int, timeout: float = 240) -> bool:
    """Wait until ``rows`` shards are visible (one row each) or the job ends; True while it still runs."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and len(_visible_shards(out)) < rows and time.monotonic() < deadline:
        time.sleep(0.1)
    return proc.poll() is None


def _analysing_workers() -> list[int]:
    """Pids of Ray worker processes running an ``_analyse`` task right now (Ray sets their process title)."""
    listing = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
    return [int(line.split(None, 1)[0]) for line in listing.splitlines()
            if line.split(None, 1)[1:] and line.split(None, 1)[1].startswith("ray::_analyse")]


def _count(out: Path, inputs: list[str], broken: str) -> dict[str, int]:
    import pyarrow.parquet as pq

    rows = []
    for shard in _visible_shards(out):
        rows += pq.read_table(shard, columns=["path", "other_paths", "status"]).to_pylist()
    aliases = []
    for shard in sorted((out / "aliases").glob("[!._]*.parquet")) if (out / "aliases").exists() else []:
        aliases += pq.read_table(shard, columns=["path"]).column("path").to_pylist()
    per_path = collections.Counter(r["path"] for r in rows)
    covered = set(per_path) | set(aliases) | {p for r in rows for p in (r["other_paths"] or [])}
    unexpected = sum(r["status"] != "ok" and r["path"] != broken for r in rows)
    broken_ok = [r["status"] for r in rows if r["path"] == broken] == ["error"]
    query = subprocess.run([*CLI, "query", str(out), "SELECT count(*) FROM tracks", "-f", "csv"],
                           capture_output=True, text=True, env={**os.environ, "RAY_ADDRESS": ""})
    seen = int(query.stdout.splitlines()[1]) if query.returncode == 0 else -1
    return {"rows": len(rows), "duplicates": sum(n - 1 for n in per_path.values()),
            "lost": len(set(inputs) - covered), "unexpected_errors": unexpected + (not broken_ok),
            "query_rows": seen}


def _one_run(run: int, rng: random.Random, corpus: Path, work: Path, cluster, state: dict) -> dict:
    inputs = sorted(str(p) for p in corpus.glob("*.mp3"))
    broken = str(corpus / "zz-broken.mp3")
    out = work / f"out-{run:02d}"
    address = cluster.address
    kinds = rng.sample(KINDS, k=rng.choice((2, 3)))
    injected: list[str] = []
    first = _analyze(corpus, out, address)
    if "twice" in kinds:
        _wait_for_rows(out, first, 1)
        second = _analyze(corpus, out, address, "--wait")
        injected.append("twice")
    else:
        second = None
    if "worker" in kinds and _wait_for_rows(out, first, rng.randint(0, 2)):
        deadline = time.monotonic() + 60
        while not (pids := _analysing_workers()) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(rng.choice(pids), signal.SIGKILL)
            injected.append("worker")
    if "node" in kinds and _wait_for_rows(out, first, rng.randint(1, 3)):
        cluster.remove_node(state["worker"], allow_graceful=False)
        injected.append("node")
    if "driver" in kinds and _wait_for_rows(out, first, rng.randint(2, len(inputs) - 1)):
        first.kill()
        injected.append("driver")
    first.wait(timeout=600)
    if second is not None:
        second.wait(timeout=600)
    if "node" in injected:
        state["worker"] = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
    if "shard" in kinds and (shards := _visible_shards(out)):
        victim = rng.choice(shards)
        victim.write_bytes(victim.read_bytes()[: rng.randint(0, 400)])
        injected.append("shard")
    reruns = 0
    for _ in range(3):
        reruns += 1
        again = _analyze(corpus, out, address)
        again.wait(timeout=600)
        if again.returncode == 0:
            break
    counts = _count(out, inputs, broken)
    counts.update(run=run, faults=injected, reruns=reruns, rerun_ok=again.returncode == 0, inputs=len(inputs))
    print(f"run {run:2d}: faults {','.join(injected) or '-':24s} reruns {reruns}  rows {counts['rows']}/"
          f"{len(inputs)}  duplicates {counts['duplicates']}  lost {counts['lost']}  unexpected errors "
          f"{counts['unexpected_errors']}  query rows {counts['query_rows']}", flush=True)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--tracks", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    from ostinato.demo import write_demo_corpus

    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="ostinato-faults-"))
    corpus = work / "corpus"
    write_demo_corpus(corpus, n_tracks=args.tracks, seconds=args.seconds, seed=args.seed)
    (corpus / "zz-broken.mp3").write_bytes(b"not audio" * 100)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    state = {"worker": cluster.add_node(num_cpus=1)}
    cluster.wait_for_nodes()
    start = time.monotonic()
    try:
        results = [_one_run(run, rng, corpus, work, cluster, state) for run in range(args.runs)]
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
        cluster.shutdown()
    faults = collections.Counter(kind for r in results for kind in r["faults"])
    summary = {
        "runs": len(results), "faults_injected": sum(faults.values()), "faults_by_kind": dict(faults),
        "inputs_per_run": results[0]["inputs"] if results else 0, "rows": sum(r["rows"] for r in results),
        "duplicates": sum(r["duplicates"] for r in results), "lost_inputs": sum(r["lost"] for r in results),
        "unexpected_errors": sum(r["unexpected_errors"] for r in results),
        "query_rows_wrong": sum(r["query_rows"] != r["inputs"] for r in results),
        "reruns_failed": sum(not r["rerun_ok"] for r in results), "wall_s": round(time.monotonic() - start, 1),
        "command": " ".join(sys.argv), "per_run": results,
    }
    print(f"\nruns {summary['runs']}, faults injected {summary['faults_injected']} {dict(faults)}, inputs "
          f"{summary['inputs_per_run']} per run, rows {summary['rows']}, duplicates {summary['duplicates']}, "
          f"lost inputs {summary['lost_inputs']}, unexpected error rows {summary['unexpected_errors']}, "
          f"runs where query saw another count {summary['query_rows_wrong']}, wall {summary['wall_s']} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
