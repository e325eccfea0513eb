"""Shared fixtures: one local Ray per test module that asks for it, and small corpora built on the fly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def die_at_step_file(tmp_path_factory) -> Path:
    """Write a step number here and the rank-0 training worker of the next run dies after reporting that step
    (``ostinato.testing.faults.die_after_reporting_step``)."""
    return tmp_path_factory.mktemp("faults") / "die-at-step"


@pytest.fixture(scope="module")
def ray_local(die_at_step_file):
    """A local Ray with 2 CPUs for the whole module, shut down after it.

    Faults are armed in every worker (``ostinato.testing.faults``): inputs named ``*crash-me*`` kill their
    worker, and a step written to ``die_at_step_file`` kills the rank-0 training worker once.
    """
    import ray

    from ostinato.testing.faults import crash_runtime_env

    if ray.is_initialized():
        ray.shutdown()
    ray.init(
        address="local",  # a new instance even when another Ray runs on this machine
        num_cpus=2,
        include_dashboard=False,
        runtime_env=crash_runtime_env("*crash-me*", die_at_step_file=str(die_at_step_file)),
        logging_level="WARNING",
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory) -> Path:
    """A small demo corpus (3 tracks of 12 s) with truth.json, shared by the whole session."""
    from ostinato.demo import write_demo_corpus

    folder = tmp_path_factory.mktemp("demo")
    write_demo_corpus(folder, n_tracks=3, seconds=12.0, seed=0)
    return folder


@pytest.fixture(scope="module")
def s3_bucket():
    """A moto S3 server on a free loopback port with an empty bucket; yields ``(boto3 client, bucket name)``.

    The AWS variables (endpoint, fake credentials) are set in this process for the module and restored after;
    Ray workers started before the fixture do not see them, so only the driver should touch the bucket.
    """
    import socket

    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    client = boto3.client("s3")
    client.create_bucket(Bucket="ostinato-test")
    yield client, "ostinato-test"
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def diffusion_trainset(tmp_path_factory) -> Path:
    """A tiny training set (4 synthetic tracks x 2 segments of 64 frames, 32 mel bins), shared by the session."""
    from ostinato.testing.trainset import write_tiny_trainset

    return write_tiny_trainset(tmp_path_factory.mktemp("diffusion-trainset"), n_tracks=4, segments_per_track=2)


@pytest.fixture(scope="session")
def tiny_model(diffusion_trainset, tmp_path_factory):
    """VAE + U-Net + conditioner overfitted on one train segment per track (about a minute on one core)."""
    import torch

    from ostinato.testing.tiny_model import train_tiny_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions are several times slower with two contending threads
    try:
        return train_tiny_model(diffusion_trainset, tmp_path_factory.mktemp("tiny-model"))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def torch_one_thread():
    """Torch on one thread for the test: tiny convolutions run several times slower with two contending
    OpenMP threads on a shared 2-core machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(params=["rnn", "dsp"])
def beat_tracker(request) -> str:
    """Each beat tracker of ``features.beat_tracker``: the pretrained network and the onset-envelope DSP."""
    return request.param
