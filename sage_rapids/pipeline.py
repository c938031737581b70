"""The method, top to bottom: encode, teacher targets, then epochs of
train / augment / evaluate, and export of the best student.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import artifacts, report
from .augment import augment_round, expected_synthetic
from .backend import Backend
from .checkpoint import TrainingState, latest_checkpoint, load_checkpoint, save_checkpoint
from .config import Config
from .data import TaskData, load_task
from .evaluate import agreement, classification_metrics, predict, teacher_learnt_nothing
from .models import ModelError, Student, build_student, count_parameters, export_student
from .models import input_embeddings, load_classifier, vector_forward
from .profiling import Profiler
from .reduce import UmapReducer
from .seeds import generator, seed_torch
from .table import ExampleTable, empty_pool, encode_dataset
from .targets import teacher_targets
from .teacher import finetune_source, finetune_teacher
from .train import make_optimizer, planned_steps, train_epoch


@dataclass(frozen=True)
class Setup:
    """Everything stages 0 and 1 produce."""

    task: TaskData
    teacher: torch.nn.Module
    tokenizer: object
    embeddings: torch.Tensor  # (V, H_T) frozen teacher word table
    train: ExampleTable  # with teacher logits
    dev: ExampleTable
    teacher_dev_preds: np.ndarray
    teacher_dev_metrics: dict  # {metric: value} on dev
    metrics: list[str]  # dev metrics reported, the one that picks the best epoch first


def load_teacher(config: Config, task: TaskData, backend: Backend, quiet: bool, log):
    """The teacher: fine-tuned (and cached) when the config asks, else loaded as is.

    Raises:
        ModelError: the teacher's head does not match the task's labels.
    """
    cfg, n_labels = config.teacher, len(task.train.label_names)
    name = cfg.model
    if cfg.finetune:
        name = str(finetune_teacher(cfg, config.data, finetune_source(cfg, task), backend,
                                    config.seed, quiet, log))
    teacher, tokenizer = load_classifier(name, None, cfg.trust_remote_code)
    if teacher.config.num_labels != n_labels:
        raise ModelError(f"teacher.model: {cfg.model} has {teacher.config.num_labels} labels, "
                         f"the task has {n_labels}; set teacher.finetune: true to fine-tune it")
    teacher.to(backend.device).requires_grad_(False)
    return teacher, tokenizer


def prepare(config: Config, backend: Backend, profiler: Profiler, quiet: bool, log) -> Setup:
    """Stages 0 and 1: load and tokenize the data once, teacher logits once."""
    task = load_task(config.data, config.seed, config.loss)
    teacher, tokenizer = load_teacher(config, task, backend, quiet, log)
    embeddings = input_embeddings(teacher).detach()  # (V, H_T)
    with profiler.stage("encode"):
        train, _ = encode_dataset(task.train, tokenizer, config.data.max_length, backend)
        dev, _ = encode_dataset(task.dev, tokenizer, config.data.max_length, backend)
    with profiler.stage("teacher_targets"):
        targets = teacher_targets(teacher, train, embeddings, backend, config.eval.batch_size,
                                  pooled=config.loss.cosine > 0, quiet=quiet)
    with profiler.stage("evaluate"):  # the teacher's own dev accuracy, for the reports
        dev_preds = predict(lambda v, m, t: vector_forward(teacher, v, m, t).logits, dev,
                            embeddings, backend, config.eval.batch_size)
    metrics = report_metrics(config, task)
    teacher_metrics = classification_metrics(dev_preds, task.dev.labels, metrics)
    warning = teacher_learnt_nothing(dev_preds, task.dev.labels)
    if warning:
        log(f"warning: {warning}")
        task.notes.append(warning)
    return Setup(task, teacher, tokenizer, embeddings,
                 train.with_targets(targets.logits, targets.pooled), dev, dev_preds,
                 teacher_metrics, metrics)


def report_metrics(config: Config, task: TaskData) -> list[str]:
    """The dev metrics to report, the one that picks the best epoch first."""
    metrics = list(config.eval.metrics or task.metrics)
    select = config.eval.select_by or metrics[0]
    return list(dict.fromkeys([select, *metrics, "accuracy"]))


class RunInterrupted(RuntimeError):
    """SIGINT or SIGTERM stopped the run; the last complete checkpoint is kept."""

    def __init__(self, run_dir: Path, epoch: int):
        self.run_dir, self.epoch = run_dir, epoch
        super().__init__(f"interrupted during epoch {epoch}; the checkpoint of epoch "
                         f"{epoch - 1} in {run_dir} is kept")


@contextmanager
def stop_on_signals():
    """Turn SIGINT / SIGTERM into a flag the training loop checks after each step."""
    flag = {"stop": False}

    def handler(signum, frame):
        flag["stop"] = True

    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: flag["stop"]
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(config: Config, backend: Backend, out_dir: Path | None = None, quiet: bool = False,
        log: Callable[[str], None] = print, resume: bool = False) -> dict:
    """Distil the configured teacher into the student with SAGE; returns the summary.

    With `resume`, `out_dir` is an existing run: training continues after its last
    complete checkpoint and ends exactly as an uninterrupted run would.

    Raises:
        RunInterrupted: a signal stopped the run (checkpoint kept).
        NumericalError: a non-finite loss (checkpoint of the last good epoch kept).
    """
    start = time.perf_counter()
    run_dir = Path(out_dir) if resume else artifacts.prepare_run_dir(out_dir, config)
    profiler = Profiler(backend.synchronize)
    s = prepare(config, backend, profiler, quiet, log)
    artifacts.save_arrays(run_dir / "teacher_targets.safetensors",
                          {"logits": backend.to_host(s.train.teacher_logits)})
    seed_torch(config.seed, "student_init")
    student = build_student(s.teacher, config.student, len(s.task.train.label_names),
                            config.teacher.trust_remote_code).to(backend.device)
    if config.loss.cosine > 0 and student.projection is not None:
        raise ModelError("loss.cosine: teacher and student widths differ "
                         f"({student.projection.in_features} vs "
                         f"{student.projection.out_features}); set loss.cosine: 0")
    sizes = expected_synthetic(config.augment, len(s.train), config.train.epochs)
    optimizer, scheduler = make_optimizer(student, config.train, planned_steps(
        len(s.train), sizes, config.train.batch_size))
    state = TrainingState(0, [], None, empty_pool(backend), None)
    seed_torch(config.seed, "dropout")
    rngs = {"batches": generator(config.seed, "batches"),
            "augment": generator(config.seed, "augment")}
    if resume:
        state = load_checkpoint(latest_checkpoint(run_dir), student, optimizer, scheduler,
                                rngs, backend)
        artifacts.write_atomic(run_dir / "metrics.jsonl", "".join(
            json.dumps(m) + "\n" for m in state.metrics).encode())
        log(f"resuming {run_dir} after epoch {state.epoch}")
    reducer = None if state.map_coords is None else UmapReducer.from_coords(
        state.map_coords, config.augment, backend)
    augmenting = config.augment.strategy != "none"
    with stop_on_signals() as should_stop:
        for epoch in range(state.epoch + 1, config.train.epochs + 1):
            profiler.epoch, t0 = epoch, time.perf_counter()
            with profiler.stage("train"):
                result = train_epoch(student, s.train, state.pool, s.embeddings, optimizer,
                                     scheduler, config.loss, config.train, backend,
                                     rngs["batches"], epoch,
                                     quiet, should_stop)
            if result is None:
                raise RunInterrupted(run_dir, epoch)
            with profiler.stage("evaluate"):
                row = evaluate_epoch(student, s, config, backend)
            row.update(epoch=epoch, train_loss=result.train_loss, n_synthetic=result.n_synthetic)
            pool = state.pool
            if augmenting and config.augment.start_epoch <= epoch < config.train.epochs:
                round_, reducer = augment_round(s.teacher, s.train, result.profile, pool,
                                                s.embeddings, config.augment, backend, profiler,
                                                rngs["augment"], reducer, quiet)
                pool = round_.pool
                row.update(round_.stats())
                if config.augment.plots:
                    report.plot_region_map(round_.picture, epoch, run_dir / "plots" /
                                           f"region_map_epoch{epoch}.png",
                                           config.augment.anchor_loss)
            row["seconds"] = time.perf_counter() - t0
            row["stage_seconds"] = profiler.epoch_seconds(epoch)
            artifacts.append_jsonl(run_dir / "metrics.jsonl", row)
            key = f"dev_{s.metrics[0]}"
            log(f"epoch {epoch}: dev {s.metrics[0]} {row[key]:.4f}, train loss "
                f"{row['train_loss']:.4f}, {row['n_synthetic']} synthetic, "
                f"{row['seconds']:.1f} s")
            best = state.best
            if best is None or row[key] > best[key]:
                best = row
                export_student(student, s.embeddings, s.tokenizer, run_dir / "student",
                               s.task.train.label_names)
            keep_map = reducer is not None and config.augment.space == "input"
            state = TrainingState(epoch, [*state.metrics, row], best, pool,
                                  backend.to_host(reducer.coords_) if keep_map else None)
            save_checkpoint(run_dir, state, student, optimizer, scheduler, rngs, backend)
    summary = summarize(config, s, student, state.metrics, state.best,
                        time.perf_counter() - start)
    artifacts.write_json(run_dir / "summary.json", summary)
    artifacts.write_json(run_dir / "profile.json", profiler.report())
    if config.augment.plots:
        report.plot_training_curves(state.metrics, run_dir / "plots" / "training_curves.png")
    return summary


def evaluate_epoch(student: Student, s: Setup, config: Config, backend: Backend) -> dict:
    """Dev metrics of the student, teacher accuracy and their agreement."""
    student.eval()
    preds = predict(lambda v, m, t: student(v, m, t).logits, s.dev, s.embeddings, backend,
                    config.eval.batch_size)
    student.train()
    labels = backend.to_host(s.dev.labels)
    row = {f"dev_{k}": v for k, v in classification_metrics(preds, labels, s.metrics).items()}
    row.update({f"teacher_dev_{k}": v for k, v in s.teacher_dev_metrics.items()})
    row["agreement"] = agreement(preds, s.teacher_dev_preds)
    return row


def summarize(config: Config, s: Setup, student: Student, metrics: list[dict], best: dict,
              seconds: float) -> dict:
    own_table = student.model.get_input_embeddings().weight  # replaced by proj(E_T) at export
    exported = count_parameters(student.model) - own_table.numel() + \
        s.embeddings.shape[0] * own_table.shape[1]
    return {
        "task": config.data.name,
        "train_examples": len(s.train),
        "dev_examples": len(s.dev),
        "teacher": config.teacher.model,
        "teacher_parameters": count_parameters(s.teacher),
        "primary_metric": s.metrics[0],
        **{f"teacher_dev_{m}": s.teacher_dev_metrics[m] for m in s.metrics},
        "student_layers": student.model.config.num_hidden_layers,
        "student_parameters": exported,
        "student_trainable_parameters": count_parameters(student, trainable_only=True),
        **{f"student_dev_{m}": best[f"dev_{m}"] for m in s.metrics},
        "best_epoch": best["epoch"],
        "agreement": best["agreement"],
        "strategy": config.augment.strategy,
        "n_synthetic_total": sum(m["n_synthetic"] for m in metrics),
        "total_seconds": seconds,
        "notes": list(s.task.notes),
    }
