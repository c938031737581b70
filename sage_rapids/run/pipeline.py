"""The method, top to bottom: encode and teacher targets (`preparation`), then epochs
of train / augment / evaluate, and export of the best student.

The run directory belongs to the `Recorder` (rank 0 writes, the others do not); with
several ranks each holds a shard of the training split (`distributed`).
"""

from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..backend import Backend
from ..config import Config
from ..context import Context
from ..distillation.evaluate import STUDENT_ADVICE, agreement, learnt_nothing, predict, scores
from ..distillation.export import exportable_student
from ..distillation.models import (
    ModelError,
    Student,
    build_student,
    count_parameters,
    hidden_size,
)
from ..distillation.table import Examples, empty_pool
from ..distillation.targets import Labelling, row_fingerprints
from ..distillation.teacher import cache_root
from ..distillation.teachers import every_teacher
from ..distillation.train import Training, early_stop, make_optimizer, planned_steps, train_epoch
from ..distributed import Dist, parameter_digest
from ..profiling import WARMUP, Profiler
from ..sage.augment import (
    RoundResult,
    augment_round,
    budget_scale,
    expected_synthetic,
    umap_fit_ahead,
)
from ..sage.reduce import UmapReducer
from ..seeds import generator, seed_torch
from . import efficiency
from .baselines import teacher_baselines
from .checkpoint import (
    TrainingState,
    checkpoint_bytes,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from .preparation import Setup, prepare, silent
from .recorder import TARGETS, Recorder


class RunInterrupted(RuntimeError):
    """SIGINT or SIGTERM stopped the run; the last complete checkpoint is kept.
    `signal` is the signal's number (a scheduler reads `128 + signal` as the exit code)."""

    def __init__(self, run_dir: Path, epoch: int, signum: int = signal.SIGINT):
        self.run_dir, self.epoch, self.signal = run_dir, epoch, int(signum)
        name = signal.Signals(signum).name
        super().__init__(f"{name} during epoch {epoch}; the checkpoint of epoch "
                         f"{epoch - 1} in {run_dir} is kept")


@contextmanager
def stop_on_signals():
    """Turn SIGINT / SIGTERM into a flag the training loop checks after each step: the
    callable returns the signal's number once one arrived, else 0."""
    flag = {"stop": 0}

    def handler(signum, frame):
        flag["stop"] = signum

    if threading.current_thread() is not threading.main_thread():
        yield lambda: 0
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: flag["stop"]
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(config: Config, backend: Backend, out_dir: Path | None = None, quiet: bool = False,
        log: Callable[[str], None] = print, resume: bool = False, dist: Dist = Dist(),
        restarts: int = 0, setup: Setup | None = None) -> dict:
    """Distil the configured teacher into the student with SAGE; returns the summary.
    `restarts` (automatic restarts by the launcher before this attempt) is recorded.
    `setup`: stages 0 and 1 done already for this config's data and teacher (several
    students of one teacher, `ladder`); None prepares them here.

    With `resume`, `out_dir` is an existing run: training continues after its last
    complete checkpoint and ends exactly as an uninterrupted run would. With several
    ranks every rank calls this; rank 0 alone logs and writes. The summary's
    `total_seconds` is the run's, over every process that worked on it (each checkpoint
    carries the seconds so far); `process_seconds` is this process's alone.

    Raises:
        RunInterrupted: a signal stopped the run (checkpoint kept).
        NumericalError: a non-finite loss (checkpoint of the last good epoch kept).
        DiskFull: no space for the run directory's files (refused before training when
            the free space is short of what the run will write).
        CheckpointDamaged: `resume` of a checkpoint whose files fail their checks.
    """
    start, out_dir = time.perf_counter(), Path(out_dir)
    verified = latest_checkpoint(out_dir) if resume else None  # before anything is written
    quiet, log = (quiet, log) if dist.is_main else (True, silent)
    rec = Recorder(out_dir, config, enabled=dist.is_main, log=log)
    profiler = Profiler(backend.synchronize)
    ctx = Context(backend, profiler, dist, quiet)
    s = setup or prepare(config, ctx, log, saved=out_dir / TARGETS if verified else None)
    rec.start(resume)  # after stages 0 and 1: bad data or a bad outputs file writes nothing
    t = start_training(config, s, ctx)
    logits, index, prints = gather_targets(s, backend, dist)
    rec.check_space({"teacher targets": logits.nbytes + index.nbytes,
                     "student": 4 * exported_parameters(t.student, s.embeddings) + 2**20,
                     "checkpoint x 2": 2 * checkpoint_bytes(t.student, t.optimizer)})
    rec.teacher_targets(logits, index, prints)
    state = TrainingState(0, [], None, empty_pool(backend), None)
    if resume:
        state = load_checkpoint(verified, t, ctx)
        rec.resumed(state.metrics)
        profiler.restore(state.metrics)  # profile.json covers the epochs before the resume
        log(f"resuming {out_dir} after epoch {state.epoch}")
    earlier = state.seconds  # what the processes before this one spent on the run
    reducer = None if state.map_coords is None else UmapReducer.from_coords(
        state.map_coords, config.augment, backend)
    labelling = Labelling(config.train.precision, t.student.transfer.cached_teacher_layers
                          if t.student.transfer else (), config.loss.layer_pool)
    key, patience = s.select_key, config.train.early_stopping
    stopped = early_stop(state.metrics, key, patience)  # a resumed run that had stopped
    # UMAP's JIT compile (umap-learn's numba), paid once per process before the first
    # round, in a stage of its own: it is no round's cost
    if backend.umap_compiles and not stopped and umap_fit_ahead(
            config.augment, config.train.epochs, state.epoch, reducer is not None):
        with profiler.stage(WARMUP):
            backend.warm_umap(config.augment.umap_metric,
                              min(len(s.train), config.augment.umap_fit_max))
    with stop_on_signals() as should_stop:
        for epoch in range(state.epoch + 1, config.train.epochs + 1):
            if stopped:
                break
            profiler.epoch, t0 = epoch, time.perf_counter()
            examples = Examples(s.train, state.pool, s.embeddings, s.teacher)
            with profiler.stage("train"):
                result = train_epoch(t, examples, config.loss, config.train, ctx, epoch,
                                     should_stop)
            if result is None:
                raise RunInterrupted(out_dir, epoch, should_stop() or signal.SIGTERM)
            with profiler.stage("evaluate"):
                row = evaluate_epoch(t.student, s, config, ctx)
            row.update(epoch=epoch, train_loss=dist.mean(result.train_loss),
                       n_synthetic=int(dist.sum(result.n_synthetic)))
            pool = state.pool
            stopped = early_stop([*state.metrics, row], key, patience)
            if config.augment.strategy != "none" and not stopped and \
                    config.augment.start_epoch <= epoch < config.train.epochs:
                row["mean_kd_loss"] = dist.mean(backend.scalar(result.profile.kd_loss.mean()))
                scale = budget_scale(config.augment, state.metrics, row["mean_kd_loss"])
                round_, reducer = augment_round(s.teacher, examples, result.profile,
                                                config.augment, ctx, t.rngs["augment"],
                                                reducer, scale, labelling)
                pool = round_.pool
                row.update(round_stats(round_, dist))
                if round_.picture is not None:
                    rec.region_map(round_.picture, epoch)
            row.update(seconds=time.perf_counter() - t0,
                       stage_seconds=profiler.epoch_seconds(epoch))
            state = replace(next_state(state, row, pool, reducer, config, backend, s, rec, t, log),
                            seconds=earlier + time.perf_counter() - start)
            save_checkpoint(out_dir, state, t, ctx)
            if stopped:
                log(f"{stopped}; the student of epoch {state.best['epoch']} is exported")
    with profiler.stage("efficiency"):
        speed = deployed_speed(s, t, config, backend, log) \
            if dist.is_main and config.eval.efficiency else None
    process = time.perf_counter() - start
    summary = summarize(config, s, t.student, state.metrics, state.best, earlier + process,
                        backend, dist)
    if speed is not None:
        summary["efficiency"] = speed
    summary.update(stopped_epoch=state.epoch,
                   stop_reason=stopped or f"reached train.epochs ({config.train.epochs})",
                   restarts=restarts, process_seconds=process)
    rec.finish(summary, {**profiler.report(), "implementations": backend.implementations},
               state.metrics)
    return summary


def deployed_speed(s: Setup, t: Training, config: Config, backend: Backend,
                   log=lambda message: None) -> dict:
    """The teacher and the student timed as deployed (token ids in), on this device and
    these threads; the student's disk size is added when the recorder has written it."""
    def timed(model):
        return efficiency.measure(model, s.tokenizer, s.task.dev, config.eval.batch_size,
                                  config.data.max_length, backend)

    student = timed(exportable_student(t.student, s.embeddings))
    if s.teacher is None:  # outputs from a file: no teacher here to time
        return {"device": backend.name, "threads": torch.get_num_threads(), "teacher": None,
                "student": student}
    teacher = timed(s.teacher)
    out = {"device": backend.name, "threads": torch.get_num_threads(), "teacher": teacher,
           "student": student, **efficiency.compare(teacher, student),
           "teacher_mb": efficiency.weights_mb(s.teacher.config._name_or_path)}
    if backend.name == "cpu":  # the deployer's first try: the teacher quantized
        base = teacher_baselines(s.teacher, s.tokenizer, s.task.dev, s.task.metrics,
                                 config.data.max_length, config.eval.batch_size,
                                 cache_root(config.teacher), log)
        if base is not None:
            out.update(baselines=base, **efficiency.compare_int8(base["teacher_int8"],
                                                                 student))
    return out


def exported_parameters(student: Student, embeddings: torch.Tensor) -> int:
    """Parameters of the exported student: its own word table is replaced by the teacher's
    (projected to the student's width) at export."""
    own_table = student.model.get_input_embeddings().weight  # (V_s, H_s)
    return (count_parameters(student.model) - own_table.numel()
            + embeddings.shape[0] * own_table.shape[1])


def gather_targets(s: Setup, backend: Backend, dist: Dist
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every rank's teacher logits with their rows of the training split and those rows'
    fingerprints (a resume reads the logits back only for the same examples), on every
    rank.

    Returns:
        (logits (N, C), index (N,), fingerprints (N,)) in training-split order.
    """
    parts = dist.gather((s.shard, backend.to_host(s.train.teacher_logits),
                         row_fingerprints(s.train, backend)))
    index = np.concatenate([p[0] for p in parts])  # (N,)
    logits = np.concatenate([p[1] for p in parts])  # (N, C)
    prints = np.concatenate([p[2] for p in parts])  # (N,)
    order = np.argsort(index, kind="stable")
    return logits[order], index[order], prints[order]


def start_training(config: Config, s: Setup, ctx: Context) -> Training:
    """Build the student (wrapped in DDP with several ranks), its optimizer and schedule.

    Raises:
        ModelError: `loss.cosine` with a student narrower than its teacher.
    """
    backend, dist = ctx.backend, ctx.dist
    seed = config.seed if config.train.seed is None else config.train.seed
    seed_torch(seed, "student_init")  # the same on every rank; DDP broadcasts rank 0's
    student = build_student(s.teacher, config.student, len(s.task.train.label_names),
                            config.teacher.trust_remote_code, config.loss).to(backend.device)
    from ..distillation.static import fit_reduction, is_static  # loaded with the models

    if is_static(student.model) and student.projection is not None:  # its PCA of the text
        fit_reduction(student.projection, s.embeddings, backend.to_host(s.train.ids))
    widths = (hidden_size(s.teacher.config), hidden_size(student.model.config)) \
        if s.teacher is not None else (0, 0)
    if config.loss.cosine > 0 and widths[0] != widths[1]:
        raise ModelError(f"loss.cosine: teacher and student widths differ ({widths[0]} vs "
                         f"{widths[1]}); set loss.cosine: 0")
    sizes = expected_synthetic(config.augment, len(s.train), config.train.epochs)
    optimizer, scheduler = make_optimizer(student, config.train, planned_steps(
        len(s.train), sizes, config.train.batch_size), config.train.schedule)
    model = student
    if dist.active:
        ids = backend.ddp_device_ids
        model = torch.nn.parallel.DistributedDataParallel(student, device_ids=ids,
                                                          forward_sync_buffers=False)
    seed_torch(seed, "dropout", dist.rank)
    rngs = {"batches": generator(seed, "batches", dist.rank),
            "augment": generator(seed, "augment", dist.rank)}
    return Training(student, model, optimizer, scheduler, rngs,
                    backend.grad_scaler(config.train.precision))


def round_stats(round_: RoundResult, dist: Dist) -> dict:
    """The round's numbers over all ranks: counts add up, losses and shares average."""
    counts = ("n_anchors", "pool_size", "n_made")
    out = {key: int(dist.sum(value)) if key in counts else dist.mean(value)
           for key, value in round_.stats().items()}
    return {key: value if math.isfinite(value) else None for key, value in out.items()}


def next_state(state: TrainingState, row: dict, pool, reducer, config: Config,
               backend: Backend, s: Setup, rec: Recorder, t: Training, log) -> TrainingState:
    """Record the epoch, export the student when it is the best so far, and move on."""
    rec.epoch(row)
    key = s.select_key
    log(f"epoch {row['epoch']}: {key.replace('_', ' ')} {row[key]:.4f}, train loss "
        f"{row['train_loss']:.4f}, {row['n_synthetic']} synthetic, {row['seconds']:.1f} s")
    best = state.best
    if best is None or row[key] > best[key]:
        best = row
        rec.export(t.student, s.embeddings, s.tokenizer, s.task.train.label_names,
                   s.task.regression)
    keep_map = reducer is not None and config.augment.space == "input"
    return TrainingState(row["epoch"], [*state.metrics, row], best, pool,
                         backend.to_host(reducer.coords_) if keep_map else None)


def evaluate_epoch(student: Student, s: Setup, config: Config, ctx: Context) -> dict:
    """Metrics of the student on every dev set, the teacher's, and their agreement
    (`agreement` on the first set, `<set>_agreement` on the others)."""
    backend, dist = ctx.backend, ctx.dist
    student.eval()
    row = {}
    for i, dev in enumerate(s.devs):
        preds = predict(lambda v, m, t: student(v, m, t).logits, dev.table, s.embeddings,
                        backend, config.eval.batch_size, dist)
        row.update({f"{dev.name}_{k}": v for k, v in scores(preds, dev.labels,
                                                            s.metrics).items()})
        row.update({f"teacher_{dev.name}_{k}": v for k, v in dev.teacher_metrics.items()})
        row["agreement" if i == 0 else f"{dev.name}_agreement"] = None \
            if dev.teacher_preds is None else agreement(preds, dev.teacher_preds)
        if i == 0:  # a student at the majority class (or the mean score) is named
            row["learnt_nothing"] = learnt_nothing(preds, dev.labels, "the student",
                                                   STUDENT_ADVICE)
    student.train()
    return row


def summarize(config: Config, s: Setup, student: Student, metrics: list[dict], best: dict,
              seconds: float, backend: Backend, dist: Dist = Dist()) -> dict:
    """The run's headline numbers. With several ranks it first checks that every rank
    ends with the same weights (DDP keeps them in step; a mismatch is a bug, not noise).

    Raises:
        RuntimeError: the ranks' students differ.
    """
    digests = dist.gather(parameter_digest(student)) if dist.active else []
    if len(set(digests)) > 1:
        raise RuntimeError(f"ranks ended with different students: {digests}")
    exported = exported_parameters(student, s.embeddings)
    return {
        "task": config.data.name,
        "train_examples": int(dist.sum(len(s.train))),
        "world_size": dist.world_size,
        "dev_examples": len(s.dev),  # the first dev set's, which picks the epoch
        "dev_sets": [d.name for d in s.devs],
        **{f"{d.name}_examples": len(d.table) for d in s.devs[1:]},
        "teacher": config.teacher.model or config.teacher.targets,
        "teacher_parameters": None if s.teacher is None else count_parameters(s.teacher),
        # how the student met the teacher: its vectors, its outputs through its own
        # tokenizer (a student of another vocabulary), or a file of outputs
        "teacher_outputs": "vectors" if s.teacher is not None else "file"
        if config.teacher.targets else "own tokenizer",
        **({"teachers": [t.model if t.targets is None else t.targets
                         for t in every_teacher(config.teacher)],
            "combine": config.teacher.combine} if config.teacher.others else {}),
        "task_type": "regression" if s.task.regression else "classification",
        "primary_metric": s.metrics[0],
        "selected_by": s.select_key,
        **{f"teacher_{d.name}_{m}": d.teacher_metrics.get(m) for d in s.devs
           for m in s.metrics},
        "student_layers": student.model.config.num_hidden_layers,
        "student_parameters": exported,
        "student_trainable_parameters": count_parameters(student, trainable_only=True),
        **{f"student_{d.name}_{m}": best[f"{d.name}_{m}"] for d in s.devs for m in s.metrics},
        "best_epoch": best["epoch"],
        "agreement": best["agreement"],
        "strategy": config.augment.strategy,
        "n_synthetic_total": sum(m["n_synthetic"] for m in metrics),
        "total_seconds": seconds,  # the whole run, over every process (resumes included)
        "precision": config.train.precision,
        "implementations": backend.implementations,
        "teacher_learnt_nothing": any(n.startswith("the teacher learnt") for n in s.task.notes),
        "student_learnt_nothing": bool(best.get("learnt_nothing")),
        "notes": [*s.task.notes, *([best["learnt_nothing"]] if best.get("learnt_nothing")
                                   else [])],
    }
