"""Stage 4: dev metrics for teacher and student, and their agreement."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .backend import Backend
from .distributed import Dist
from .table import ExampleTable, real_batch, sorted_batches


@torch.no_grad()
def predict(forward: Callable, table: ExampleTable, embeddings: torch.Tensor,
            backend: Backend, batch_size: int, dist: Dist = Dist()) -> np.ndarray:
    """Class predictions for every example of `table`, in table order.

    With several ranks each scores every `world_size`-th example and the predictions
    are gathered, so every rank returns all of them.

    Args:
        forward: `(vectors, mask, type_ids) -> logits (B, C)`.
        table: examples to score.
        embeddings: (V, H_T) teacher word-embedding table.

    Returns:
        (n,) int64 predicted labels on the host.
    """
    mine = np.arange(dist.rank, len(table), dist.world_size)  # (n / world,)
    preds = np.empty(len(table), dtype=np.int64)
    for batch_of_mine in sorted_batches(table.host_lengths[mine], batch_size):
        index = mine[batch_of_mine]
        batch = real_batch(table, embeddings, index, backend)
        preds[index] = backend.to_host(forward(batch.vectors, batch.mask,
                                               batch.type_ids).argmax(-1))
    for rank, part in enumerate(dist.gather(preds[mine]) if dist.active else []):
        preds[np.arange(rank, len(table), dist.world_size)] = part
    return preds


def classification_metrics(preds: np.ndarray, labels: np.ndarray,
                           metrics: list[str]) -> dict[str, float]:
    """Accuracy, and F1 (positive class 1) / MCC when asked for.

    Args:
        preds: (n,) int predictions.
        labels: (n,) int gold labels.
        metrics: names among accuracy, f1, mcc.

    Returns:
        {name: value}.
    """
    out = {"accuracy": float((preds == labels).mean())}
    tp = float(((preds == 1) & (labels == 1)).sum())
    fp = float(((preds == 1) & (labels != 1)).sum())
    fn = float(((preds != 1) & (labels == 1)).sum())
    tn = float(((preds != 1) & (labels != 1)).sum())
    if "f1" in metrics:
        out["f1"] = 2 * tp / max(2 * tp + fp + fn, 1.0)
    if "mcc" in metrics:
        denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        out["mcc"] = float((tp * tn - fp * fn) / denom) if denom > 0 else 0.0
    return out


def teacher_learnt_nothing(preds: np.ndarray, labels: np.ndarray) -> str | None:
    """A warning when the teacher is no better than always answering the majority class.

    Args:
        preds: (n,) the teacher's dev predictions.
        labels: (n,) gold labels.

    Returns:
        The message, or None when the teacher beats the majority rate by more than a
        point and (two classes) its MCC is clearly above zero.
    """
    counts = np.bincount(labels)
    majority = counts.max() / len(labels)
    scores = classification_metrics(preds, labels, ["mcc"] if len(counts) == 2 else [])
    flat = scores["accuracy"] <= majority + 0.01 or abs(scores.get("mcc", 1.0)) < 0.05
    if not flat:
        return None
    detail = f", MCC {scores['mcc']:.3f}" if "mcc" in scores else ""
    return (f"the teacher learnt next to nothing: dev accuracy {scores['accuracy']:.4f} "
            f"against {majority:.4f} for always answering the majority class{detail}. The "
            "student would distil a constant; raise teacher.finetune_epochs or "
            "teacher.finetune_lr, or give a stronger teacher.model")


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of examples where two models predict the same label."""
    return float((a == b).mean())


@torch.no_grad()
def score_classifier(model_dir, dataset, max_length: int, backend: Backend,
                     batch_size: int = 128, metrics: list[str] | None = None) -> dict[str, float]:
    """Token-level metrics of a saved classifier: what a plain transformers user sees.

    Args:
        model_dir: a `save_pretrained` folder with its tokenizer (e.g. an exported student).
        dataset: a `TextDataset` whose label order matches the model's.
        max_length: tokens per example.

    Returns:
        {metric: value}.
    """
    from .models import load_classifier
    from .table import encode_dataset, token_batch

    model, tokenizer = load_classifier(str(model_dir))
    model.to(backend.device)
    table, _ = encode_dataset(dataset, tokenizer, max_length, backend)
    preds = np.empty(len(table), dtype=np.int64)
    for index in sorted_batches(table.host_lengths, batch_size):
        logits = model(**token_batch(table, index, backend)).logits
        preds[index] = backend.to_host(logits.argmax(-1))
    return classification_metrics(preds, dataset.labels, metrics or ["accuracy"])
