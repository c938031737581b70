"""Stage 2: one training epoch in vector space, recording the error profile.

The loop is one visible function. Real batches are `E_T[x]` lookups, synthetic
batches are materialised from their recipes; both train on cached teacher logits,
so the teacher never runs here, unless the student learns the teacher's per-token
states or attention maps (too large to cache): then one teacher forward per batch,
timed as `teacher_in_loop`. The per-sample loss and the student's mean-pooled
last hidden state of every real example are recorded from the forward pass the
step already makes: the error profile costs no extra forward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable

import torch

from ..config import LossConfig, TrainConfig
from ..context import Context
from ..distributed import aligned_steps
from ..progress import progress_bar
from .losses import per_sample_attention_loss, per_sample_loss
from .models import Student
from .table import Examples, bucketed_batches, real_batch, synthetic_batch
from .targets import teacher_in_loop


class NumericalError(RuntimeError):
    """A non-finite loss; the message names the epoch and step."""


@dataclass(frozen=True)
class ErrorProfile:
    """Per real example, from the epoch's own forward passes.

    Attributes:
        kd_loss: (n,) float32 distillation term.
        total_loss: (n,) float32 full loss (with the gold-label term).
        embeddings: (n, H) float16 mean-pooled last hidden state of the student.
    """

    kd_loss: Any
    total_loss: Any
    embeddings: Any


@dataclass(frozen=True)
class Training:
    """The student, what trains it, and this rank's random streams."""

    student: Student  # the model itself (exported, evaluated, checkpointed)
    model: torch.nn.Module  # what trains: the student, or its DDP wrapper with several ranks
    optimizer: torch.optim.Optimizer
    scheduler: object
    rngs: dict  # NumPy generators of this rank: "batches" (batch order), "augment"
    scaler: object = None  # the fp16 gradient scaler, or None


@dataclass(frozen=True)
class EpochResult:
    train_loss: float  # mean per-sample loss over real and synthetic samples
    steps: int
    n_real: int
    n_synthetic: int
    profile: ErrorProfile


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, total_steps: int,
                   schedule: str = "linear", warmup: bool = True):
    """AdamW with linear warmup (the first `warmup_ratio` of `total_steps`), then
    `schedule="linear"`: decay to zero at `total_steps`, or `"constant"`: flat.

    Early stopping ends a run before `total_steps` (planned for `train.epochs`, the
    cap): with `linear` the learning rate is still well above zero there; `constant`
    does not depend on when training ends. `warmup=False` starts at the full rate.
    Biases and norm weights (1-D parameters) get no weight decay; frozen ones are skipped.

    Returns:
        (optimizer, scheduler).
    """
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if param.ndim < 2 else decay).append(param)  # no decay on norms, biases
    # the fused kernel runs AdamW's update in one pass over each tensor: on short batches
    # the per-tensor loop took a third of a step (105 of 290 ms fine-tuning MiniLM on 1 CPU
    # thread, 14 ms fused); the same algorithm, rounded in another order
    fused = all(p.device.type in ("cpu", "cuda") for p in decay + no_decay)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, fused=fused or None)
    ramp = warmup_steps(cfg, total_steps) if warmup else 0

    def factor(step: int) -> float:
        if step < ramp:
            return (step + 1) / ramp
        if schedule == "constant":
            return 1.0
        return max(0.0, (total_steps - step) / max(1, total_steps - ramp))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def early_stop(metrics: list[dict], key: str, patience: int | None) -> str | None:
    """Why training stops after the last epoch of `metrics`, or None to go on.

    Training stops once `patience` epochs in a row have not beaten the best epoch's
    `key` (the best is the first epoch with the highest value, as export picks it).
    The history alone decides, so a resumed run stops where an uninterrupted one would.
    """
    if patience is None or not metrics:
        return None
    best = max(range(len(metrics)), key=lambda i: metrics[i][key])  # first of the maxima
    since = len(metrics) - 1 - best
    if since < patience:
        return None
    return (f"early stopping: {key} not above epoch {metrics[best]['epoch']}'s "
            f"{metrics[best][key]:.4f} for {since} epoch{'s' if since > 1 else ''}")


def warmup_steps(cfg: TrainConfig, total_steps: int) -> int:
    """The steps of `make_optimizer`'s linear warm-up: the first `warmup_ratio` of the
    steps planned, so that an arm planning more steps (SAGE's synthetic points) warms up
    over more of them."""
    return max(1, int(cfg.warmup_ratio * total_steps))


def planned_steps(n_real: int, n_synthetic: list[int], batch_size: int) -> int:
    """Optimiser steps over all epochs, given the synthetic count of each epoch."""
    return sum(math.ceil(n_real / batch_size) + math.ceil(m / batch_size) for m in n_synthetic)


def step_optimizer(loss: torch.Tensor, model, optimizer, scaler, max_grad_norm: float) -> None:
    """Backward, clip, step; through the gradient scaler when training in fp16."""
    if scaler is None:
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        return
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)  # clip the true gradients
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    scaler.step(optimizer)  # skipped when the scaled gradients overflowed
    scaler.update()


def train_epoch(t: Training, examples: Examples, loss_cfg: LossConfig,
                train_cfg: TrainConfig, ctx: Context, epoch: int = 1,
                should_stop: Callable[[], bool] = lambda: False) -> EpochResult | None:
    """Train one epoch over all real examples and the synthetic pool.

    With several ranks, every rank runs the same number of steps, batches of like
    length at the same step (`aligned_steps`), and
    a stop request or a non-finite loss on any rank stops all of them at the same step.

    Args:
        t: `t.model` is trained in place (the student's DDP wrapper with several ranks),
            with `t.optimizer`, `t.scheduler` and `t.scaler` (fp16, or None);
            `t.rngs["batches"]` drives the batch order.
        examples: real examples with teacher logits, the synthetic pool (may be empty)
            and the (V, H_T) teacher word-embedding table (frozen).
        should_stop: checked after every step; True abandons the epoch cleanly.

    Returns:
        `EpochResult` with the mean loss and the error profile, or None if stopped.

    Raises:
        NumericalError: a NaN or infinite loss.
    """
    table, embeddings, backend, dist = examples.table, examples.embeddings, ctx.backend, ctx.dist
    rng, student, n, device = t.rngs["batches"], t.model, len(table), backend.device
    transfer = t.student.transfer  # the student learns the teacher's layers, or None
    pool = examples.pool.with_lengths(table, backend)
    lengths = {False: table.host_lengths, True: pool.host_lengths}
    plan = [(False, b) for b in bucketed_batches(lengths[False], train_cfg.batch_size,
                                                 train_cfg.bucket_batches, rng)]
    plan += [(True, b) for b in bucketed_batches(lengths[True], train_cfg.batch_size,
                                                 train_cfg.bucket_batches, rng)]
    plan = [plan[i] for i in rng.permutation(len(plan))]
    cost = [len(b) * int(lengths[synthetic][b].max()) for synthetic, b in plan]
    plan = aligned_steps(plan, cost, dist, rng)
    kd_loss = torch.zeros(n, dtype=torch.float32, device=device)
    total_loss = torch.zeros(n, dtype=torch.float32, device=device)
    pooled = None
    loss_sum, count = torch.zeros((), device=device), 0
    student.train()
    for step, (synthetic, index) in enumerate(progress_bar(plan, f"epoch {epoch}", ctx.quiet)):
        batch = (synthetic_batch(table, pool, embeddings, index, backend)
                 if synthetic else real_batch(table, embeddings, index, backend))
        with backend.autocast(train_cfg.precision):
            out = student(batch.vectors, batch.mask, batch.type_ids, pooled=True,
                          layers=transfer is not None)
        teacher_layers, teacher_maps = batch.teacher_layers, None
        if transfer is not None and transfer.teacher_in_loop:
            with ctx.profiler.stage("teacher_in_loop"):
                seen = teacher_in_loop(examples.teacher, batch, transfer, backend,
                                       train_cfg.precision)
            teacher_layers = seen.layers if seen.layers is not None else teacher_layers
            teacher_maps = seen.attentions
        losses = per_sample_loss(out.logits.float(), batch.teacher_logits, batch.labels,
                                 loss_cfg.temperature, loss_cfg.alpha, loss_cfg.cosine,
                                 out.pooled.float(), batch.teacher_pooled, loss_cfg.layers,
                                 out.layers, teacher_layers, loss_cfg.layer_loss, batch.mask)
        if teacher_maps is not None:
            losses = replace(losses, attention=loss_cfg.attention * per_sample_attention_loss(
                out.attentions, teacher_maps, batch.mask))
        loss = losses.total.mean()
        stop, bad = dist.any(should_stop(), not torch.isfinite(loss))  # all ranks agree
        if bad:
            raise NumericalError(
                f"epoch {epoch}, step {step}: loss is {loss.item()}"
                f"{f' on some rank' if dist.active else ''}; try a lower train.lr")
        if stop:
            return None
        t.optimizer.zero_grad(set_to_none=True)
        step_optimizer(loss, student, t.optimizer, t.scaler, train_cfg.max_grad_norm)
        t.scheduler.step()
        loss_sum += losses.total.detach().sum()
        count += len(index)
        if not synthetic:
            if pooled is None:
                pooled = torch.zeros((n, out.pooled.shape[1]), dtype=torch.float16,
                                     device=device)
            kd_loss[batch.real_index] = losses.kd.detach()
            total_loss[batch.real_index] = losses.total.detach()
            pooled[batch.real_index] = out.pooled.detach().half()
    profile = ErrorProfile(backend.from_torch(kd_loss), backend.from_torch(total_loss),
                           backend.from_torch(pooled))
    return EpochResult(float(loss_sum) / max(count, 1), len(plan), n, len(pool), profile)
