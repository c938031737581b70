"""Stage 4: dev metrics for teacher and student, and their agreement.

A classifier's prediction is its arg-max class; a regression head (one output) predicts
its score, scored by Pearson and Spearman correlation as GLUE scores STS-B.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..backend import Backend
from ..distributed import Dist
from .table import ExampleTable, real_batch, sorted_batches


@torch.no_grad()
def predict(forward: Callable, table: ExampleTable, embeddings: torch.Tensor,
            backend: Backend, batch_size: int, dist: Dist = Dist()) -> np.ndarray:
    """Predictions for every example of `table`, in table order.

    With several ranks each scores every `world_size`-th example and the predictions
    are gathered, so every rank returns all of them.

    Args:
        forward: `(vectors, mask, type_ids) -> logits (B, C)`.
        table: examples to score.
        embeddings: (V, H_T) teacher word-embedding table.

    Returns:
        (n,) on the host: int64 predicted labels, or float32 scores of a
        regression head (C = 1).
    """
    mine = np.arange(dist.rank, len(table), dist.world_size)  # (n / world,)
    preds = None
    for batch_of_mine in sorted_batches(table.host_lengths[mine], batch_size):
        index = mine[batch_of_mine]
        batch = real_batch(table, embeddings, index, backend)
        out = backend.to_host(predictions(forward(batch.vectors, batch.mask, batch.type_ids)))
        if preds is None:
            preds = np.empty(len(table), dtype=out.dtype)
        preds[index] = out
    for rank, part in enumerate(dist.gather(preds[mine]) if dist.active else []):
        preds[np.arange(rank, len(table), dist.world_size)] = part
    return preds


def predictions(logits: torch.Tensor) -> torch.Tensor:
    """(B, C) logits -> (B,) arg-max classes, or (B, 1) scores -> (B,) float32 scores."""
    return logits[:, 0].float() if logits.shape[-1] == 1 else logits.argmax(-1)


def scores(preds: np.ndarray, labels: np.ndarray, metrics: list[str]) -> dict[str, float]:
    """The task's metrics: `regression_metrics` for float labels, else
    `classification_metrics`."""
    if labels.dtype.kind == "f":
        return regression_metrics(preds, labels)
    return classification_metrics(preds, labels, metrics)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; 0 when either side is constant (it predicts nothing)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def regression_metrics(preds: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Pearson and Spearman correlation (ties share their mean rank), and MSE.

    Args:
        preds: (n,) predicted scores.
        labels: (n,) gold scores.

    Returns:
        {"pearson", "spearman", "mse"}.
    """
    from scipy.stats import rankdata

    return {"pearson": pearson(preds, labels),
            "spearman": pearson(rankdata(preds), rankdata(labels)),
            "mse": float(np.mean((np.asarray(preds, np.float64) - labels) ** 2))}


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


TEACHER_ADVICE = ("The student would distil a constant; raise teacher.finetune_epochs or "
                  "teacher.finetune_lr, or give a stronger teacher.model")
STUDENT_ADVICE = ("Its dev score is no evidence of distillation; train longer "
                  "(train.epochs), raise train.lr, or check the teacher's own score")


def learnt_nothing(preds: np.ndarray, labels: np.ndarray, who: str = "the teacher",
                   advice: str = TEACHER_ADVICE) -> str | None:
    """A warning when a model is no better than always answering the majority class
    (a regression model: than always predicting the mean score).

    Args:
        preds: (n,) the model's dev predictions.
        labels: (n,) gold labels.
        who: the model, as the message names it.
        advice: what to do, the message's last sentence.

    Returns:
        The message, or None when the model beats the majority rate by more than a
        point and (two classes) its MCC is clearly above zero.
    """
    if labels.dtype.kind == "f":
        return _regression_learnt_nothing(preds, labels, who, advice)
    counts = np.bincount(labels)
    majority = counts.max() / len(labels)
    scores = classification_metrics(preds, labels, ["mcc"] if len(counts) == 2 else [])
    flat = scores["accuracy"] <= majority + 0.01 or abs(scores.get("mcc", 1.0)) < 0.05
    if not flat:
        return None
    detail = f", MCC {scores['mcc']:.3f}" if "mcc" in scores else ""
    return (f"{who} learnt next to nothing: dev accuracy {scores['accuracy']:.4f} "
            f"against {majority:.4f} for always answering the majority class{detail}. "
            f"{advice}")


def teacher_learnt_nothing(preds: np.ndarray, labels: np.ndarray) -> str | None:
    """`learnt_nothing` of the teacher."""
    return learnt_nothing(preds, labels)


def _regression_learnt_nothing(preds: np.ndarray, labels: np.ndarray, who: str,
                               advice: str) -> str | None:
    """Flat when the MSE is not 10% under the mean's or Pearson is below 0.1."""
    got = regression_metrics(preds, labels)
    baseline = float(np.var(labels.astype(np.float64)))  # MSE of always predicting the mean
    if got["mse"] < 0.9 * baseline and got["pearson"] >= 0.1:
        return None
    return (f"{who} learnt next to nothing: dev MSE {got['mse']:.4f} against "
            f"{baseline:.4f} for always predicting the mean score, Pearson "
            f"{got['pearson']:.3f}. {advice}")


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of examples where two models predict the same label; for scores, the
    Pearson correlation of the two models' predictions."""
    if a.dtype.kind == "f":
        return pearson(a, b)
    return float((a == b).mean())


@torch.no_grad()
def score_classifier(model_dir, dataset, max_length: int, backend: Backend,
                     batch_size: int = 128, metrics: list[str] | None = None,
                     log: Callable[[str], None] | None = None) -> dict[str, float]:
    """Token-level metrics of a saved classifier: what a plain transformers user sees.

    Args:
        model_dir: a `save_pretrained` folder with its tokenizer (e.g. an exported student).
        dataset: a `TextDataset` (float scores for a regression model); its labels are
            matched to the model's classes by name (`labels.in_model_order`).
        max_length: tokens per example.
        log: where a note goes when the labels were matched by id or position.

    Returns:
        {metric: value}.

    Raises:
        DataError: the dataset has labels the model does not.
    """
    from .labels import in_model_order
    from .models import load_classifier
    from .table import encode_dataset, token_batch

    model, tokenizer = load_classifier(str(model_dir))
    dataset, note = in_model_order(dataset, model.config.id2label, model.config.num_labels,
                                   str(model_dir))
    if note and log is not None:
        log(f"note: {note}")
    model.to(backend.device)
    table, _ = encode_dataset(dataset, tokenizer, max_length, backend)
    preds = np.empty(len(table), dtype=np.float32 if dataset.regression else np.int64)
    for index in sorted_batches(table.host_lengths, batch_size):
        logits = model(**token_batch(table, index, backend)).logits
        preds[index] = backend.to_host(predictions(logits))
    return scores(preds, dataset.labels, metrics or ["accuracy"])
