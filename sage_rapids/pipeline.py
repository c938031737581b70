"""The method, top to bottom: encode, teacher targets, then epochs of
train / augment / evaluate, and export of the best student.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import artifacts, report
from .augment import augment_round, expected_synthetic, pooled_input_vectors
from .backend import Backend
from .config import Config
from .data import TaskData, load_task
from .evaluate import agreement, classification_metrics, predict
from .models import ModelError, Student, build_student, count_parameters, export_student
from .models import input_embeddings, load_classifier, vector_forward
from .profiling import Profiler
from .table import ExampleTable, empty_pool, encode_dataset
from .targets import teacher_targets
from .teacher import finetune_teacher
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


def seed_everything(seed: int) -> np.random.Generator:
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def load_teacher(config: Config, task: TaskData, backend: Backend, quiet: bool, log):
    """The teacher: fine-tuned (and cached) when the config asks, else loaded as is.

    Raises:
        ModelError: the teacher's head does not match the task's labels.
    """
    cfg, n_labels = config.teacher, len(task.train.label_names)
    name = cfg.model
    if cfg.finetune:
        name = str(finetune_teacher(cfg, config.data, task.train, backend, config.seed,
                                    quiet, log))
    teacher, tokenizer = load_classifier(name, None, cfg.trust_remote_code)
    if teacher.config.num_labels != n_labels:
        raise ModelError(f"teacher.model: {cfg.model} has {teacher.config.num_labels} labels, "
                         f"the task has {n_labels}; set teacher.finetune: true to fine-tune it")
    teacher.to(backend.device).requires_grad_(False)
    return teacher, tokenizer


def prepare(config: Config, backend: Backend, profiler: Profiler, quiet: bool, log) -> Setup:
    """Stages 0 and 1: load and tokenize the data once, teacher logits once."""
    task = load_task(config.data, config.seed)
    teacher, tokenizer = load_teacher(config, task, backend, quiet, log)
    embeddings = input_embeddings(teacher).detach()  # (V, H_T)
    with profiler.stage("encode"):
        train, _ = encode_dataset(task.train, tokenizer, config.data.max_length, backend)
        dev, _ = encode_dataset(task.dev, tokenizer, config.data.max_length, backend)
    with profiler.stage("teacher_targets"):
        targets = teacher_targets(teacher, train, embeddings, backend, config.eval.batch_size,
                                  pooled=config.loss.cosine > 0, quiet=quiet)
        dev_preds = predict(lambda v, m, t: vector_forward(teacher, v, m, t).logits, dev,
                            embeddings, backend, config.eval.batch_size)
    return Setup(task, teacher, tokenizer, embeddings,
                 train.with_targets(targets.logits, targets.pooled), dev, dev_preds)


def run(config: Config, backend: Backend, out_dir: Path | None = None, quiet: bool = False,
        log: Callable[[str], None] = print) -> dict:
    """Distil the configured teacher into the student with SAGE; returns the summary."""
    start = time.perf_counter()
    rng = seed_everything(config.seed)
    run_dir = artifacts.prepare_run_dir(out_dir, config)
    profiler = Profiler(backend.synchronize)
    s = prepare(config, backend, profiler, quiet, log)
    artifacts.save_arrays(run_dir / "teacher_targets.safetensors",
                          {"logits": backend.to_host(s.train.teacher_logits)})
    student = build_student(s.teacher, config.student, len(s.task.train.label_names),
                            config.teacher.trust_remote_code).to(backend.device)
    sizes = expected_synthetic(config.augment, len(s.train), config.train.epochs)
    optimizer, scheduler = make_optimizer(student, config.train, planned_steps(
        len(s.train), sizes, config.train.batch_size))
    pool, reducer, metrics, best = empty_pool(backend), None, [], None
    map_input = (pooled_input_vectors(s.train, s.embeddings, backend)
                 if config.augment.space == "input" else None)
    for epoch in range(1, config.train.epochs + 1):
        profiler.epoch, t0 = epoch, time.perf_counter()
        with profiler.stage("train"):
            result = train_epoch(student, s.train, pool, s.embeddings, optimizer, scheduler,
                                 config.loss, config.train, backend, rng, epoch, quiet)
        with profiler.stage("evaluate"):
            row = evaluate_epoch(student, s, config, backend)
        row.update(epoch=epoch, train_loss=result.train_loss, n_synthetic=result.n_synthetic)
        if config.augment.strategy != "none" and config.augment.start_epoch <= epoch < \
                config.train.epochs:
            round_, reducer = augment_round(s.teacher, s.train, result.profile, pool,
                                            s.embeddings, config.augment, backend, profiler,
                                            rng, reducer, map_input, quiet)
            pool = round_.pool
            row.update(n_anchors=round_.n_anchors, anchor_mean_loss=round_.anchor_mean_loss,
                       overall_mean_loss=round_.overall_mean_loss, pool_size=len(pool))
            if config.augment.plots:
                report.plot_region_map(round_.picture, epoch, run_dir / "plots" /
                                       f"region_map_epoch{epoch}.png", config.augment.anchor_loss)
        row["seconds"] = time.perf_counter() - t0
        row["stage_seconds"] = profiler.epoch_seconds(epoch)
        metrics.append(row)
        artifacts.append_jsonl(run_dir / "metrics.jsonl", row)
        log(f"epoch {epoch}: dev accuracy {row['dev_accuracy']:.4f}, train loss "
            f"{row['train_loss']:.4f}, {row['n_synthetic']} synthetic, {row['seconds']:.1f} s")
        if best is None or row["dev_accuracy"] > best["dev_accuracy"]:
            best = row
            export_student(student, s.embeddings, s.tokenizer, run_dir / "student",
                           s.task.train.label_names)
    summary = summarize(config, s, student, metrics, best, time.perf_counter() - start)
    artifacts.write_json(run_dir / "summary.json", summary)
    artifacts.write_json(run_dir / "profile.json", profiler.report())
    if config.augment.plots:
        report.plot_training_curves(metrics, run_dir / "plots" / "training_curves.png")
    return summary


def evaluate_epoch(student: Student, s: Setup, config: Config, backend: Backend) -> dict:
    """Dev metrics of the student, teacher accuracy and their agreement."""
    student.eval()
    preds = predict(lambda v, m, t: student(v, m, t).logits, s.dev, s.embeddings, backend,
                    config.eval.batch_size)
    student.train()
    labels = backend.to_host(s.dev.labels)
    metrics = config.eval.metrics or s.task.metrics
    row = {f"dev_{k}": v for k, v in classification_metrics(preds, labels, metrics).items()}
    row["teacher_dev_accuracy"] = float((s.teacher_dev_preds == labels).mean())
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
        "teacher_dev_accuracy": best["teacher_dev_accuracy"],
        "student_layers": student.model.config.num_hidden_layers,
        "student_parameters": exported,
        "student_trainable_parameters": count_parameters(student, trainable_only=True),
        "student_dev_accuracy": best["dev_accuracy"],
        "best_epoch": best["epoch"],
        "agreement": best["agreement"],
        "strategy": config.augment.strategy,
        "n_synthetic_total": sum(m["n_synthetic"] for m in metrics),
        "total_seconds": seconds,
        "notes": list(s.task.notes),
    }
