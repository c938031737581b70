"""Per-sample distillation losses. Every function returns one value per sample;
the caller reduces, so the same numbers feed the optimiser and the error profile.

A regression head (one output) distils by squared error to the teacher's score, and
its gold-label term is squared error to the gold score: there is no distribution to
soften, so `loss.temperature` does not apply to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def per_sample_kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                       temperature: float) -> torch.Tensor:
    """`t^2 * KL(softmax(z_T / t) || softmax(z_S / t))` per sample.

    Args:
        student_logits: (B, C).
        teacher_logits: (B, C).
        temperature: t > 0; the t^2 factor keeps gradient scale independent of t.

    Returns:
        (B,) non-negative losses.
    """
    log_p_s = F.log_softmax(student_logits.float() / temperature, dim=-1)  # (B, C)
    log_p_t = F.log_softmax(teacher_logits.float() / temperature, dim=-1)  # (B, C)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1)  # (B,)
    return kl * temperature**2


def per_sample_ce_loss(student_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with the gold label per sample; label -1 (synthetic) gives 0.

    Args:
        student_logits: (B, C).
        labels: (B,) int, -1 where there is no gold label.

    Returns:
        (B,) losses.
    """
    ce = F.cross_entropy(student_logits.float(), labels.clamp_min(0), reduction="none")
    return ce * (labels >= 0)


def per_sample_squared_error(student: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """`(s - y)^2` per sample for (B, 1) scores and (B,) or (B, 1) targets; a NaN
    target (no gold score: synthetic or unlabelled) gives 0.

    Returns:
        (B,) losses.
    """
    target = target.float().reshape(-1)  # (B,)
    known = torch.isfinite(target)
    diff = student.float().reshape(-1) - torch.where(known, target, torch.zeros_like(target))
    return diff.square() * known


def per_sample_cosine_loss(student_pooled: torch.Tensor,
                           teacher_pooled: torch.Tensor) -> torch.Tensor:
    """`1 - cos(h_S, h_T)` per sample on pooled hidden states, (B, H) each -> (B,)."""
    return 1.0 - F.cosine_similarity(student_pooled.float(), teacher_pooled.float(), dim=-1)


def per_sample_layer_loss(student_layers: torch.Tensor, teacher_layers: torch.Tensor,
                          kind: str = "pkd", mask: torch.Tensor | None = None) -> torch.Tensor:
    """Layer transfer per sample, averaged over the J mapped layers.

    `pkd`: `|| s / |s| - t / |t| ||^2` (Patient KD's normalised states, in [0, 4]);
    `mse`: the mean over the width of `(s - t)^2` (TinyBERT's hidden-state loss);
    `cosine`: `1 - cos(s, t)`. Per-token states are compared token by token and
    averaged over the real tokens of `mask`.

    Args:
        student_layers: (B, J, H) pooled, or (B, J, L, H) per token: the student's
            mapped layers, in the teacher's width.
        teacher_layers: the teacher's, the same shape.
        mask: (B, L) real tokens; needed per token.

    Returns:
        (B,) losses.
    """
    s, t = student_layers.float(), teacher_layers.float()
    if kind == "mse":
        per_layer = (s - t).square().mean(-1)  # (B, J[, L])
    elif kind == "cosine":
        per_layer = 1.0 - F.cosine_similarity(s, t, dim=-1)  # (B, J[, L])
    else:
        per_layer = (F.normalize(s, dim=-1) - F.normalize(t, dim=-1)).square().sum(-1)
    if per_layer.dim() == 3:  # per token: the mean over each example's real tokens
        real = mask[:, None, :].float()  # (B, 1, L)
        per_layer = (per_layer * real).sum(-1) / real.sum(-1).clamp_min(1.0)  # (B, J)
    return per_layer.mean(-1)


def per_sample_attention_loss(student_maps: torch.Tensor, teacher_maps: torch.Tensor,
                              mask: torch.Tensor) -> torch.Tensor:
    """Attention transfer (TinyBERT, MiniLM): `KL(A_T || A_S)` of each real query's
    attention distribution over the keys, averaged over heads, real queries and the J
    mapped layers. Models with other head counts compare head-averaged distributions.

    Args:
        student_maps: (B, J, h_S, L, L) attention probabilities (rows sum to 1).
        teacher_maps: (B, J, h_T, L, L).
        mask: (B, L) real tokens.

    Returns:
        (B,) losses.
    """
    s, t = student_maps.float(), teacher_maps.float()
    if s.shape[2] != t.shape[2]:
        s, t = s.mean(2, keepdim=True), t.mean(2, keepdim=True)  # (B, J, 1, L, L)
    tiny = torch.finfo(torch.float32).tiny  # padded keys carry probability 0 on both sides
    kl = (t * (t.clamp_min(tiny).log() - s.clamp_min(tiny).log())).sum(-1)  # (B, J, h, L)
    per_query = kl.mean(2)  # (B, J, L)
    real = mask[:, None, :].float()  # (B, 1, L)
    return ((per_query * real).sum(-1) / real.sum(-1).clamp_min(1.0)).mean(-1)


@dataclass(frozen=True)
class SampleLosses:
    """Per-sample terms of the distillation loss, each (B,)."""

    kd: torch.Tensor  # alpha * t^2 * KL (regression: alpha * squared error to the teacher)
    ce: torch.Tensor  # (1 - alpha) * CE (regression: squared error), zero for synthetic
    cosine: torch.Tensor  # weight * (1 - cos), zero when unused
    layers: torch.Tensor | None = None  # weight * layer transfer, None when unused
    attention: torch.Tensor | None = None  # weight * attention transfer, None when unused

    @property
    def total(self) -> torch.Tensor:
        total = self.kd + self.ce + self.cosine
        for term in (self.layers, self.attention):
            total = total if term is None else total + term
        return total


def per_sample_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                    labels: torch.Tensor, temperature: float, alpha: float,
                    cosine_weight: float = 0.0, student_pooled: torch.Tensor | None = None,
                    teacher_pooled: torch.Tensor | None = None, layer_weight: float = 0.0,
                    student_layers: torch.Tensor | None = None,
                    teacher_layers: torch.Tensor | None = None,
                    layer_loss: str = "pkd", mask: torch.Tensor | None = None) -> SampleLosses:
    """`a * t^2 * KL + (1 - a) * CE (+ w * (1 - cos)) (+ w_l * layer transfer)`, one
    value per sample; the layer term needs both models' mapped layers, (B, J, H) pooled
    or (B, J, L, H) per token with the (B, L) `mask`. Attention transfer is added by
    the caller (`per_sample_attention_loss`).

    Synthetic samples carry label -1 (NaN for scores) and so get the KD term only.
    A regression head ((B, 1) logits, float labels) gets
    `a * (s - s_T)^2 + (1 - a) * (s - y)^2` instead; `temperature` is not used.

    Returns:
        `SampleLosses` with the weighted terms, each (B,).
    """
    if student_logits.shape[-1] == 1:
        kd = alpha * per_sample_squared_error(student_logits, teacher_logits)
        ce = (1.0 - alpha) * per_sample_squared_error(student_logits, labels)
    else:
        kd = alpha * per_sample_kd_loss(student_logits, teacher_logits, temperature)
        ce = (1.0 - alpha) * per_sample_ce_loss(student_logits, labels)
    cos = torch.zeros_like(kd)
    if cosine_weight > 0 and student_pooled is not None and teacher_pooled is not None:
        cos = cosine_weight * per_sample_cosine_loss(student_pooled, teacher_pooled)
    layers = None
    if layer_weight > 0 and student_layers is not None and teacher_layers is not None:
        layers = layer_weight * per_sample_layer_loss(student_layers, teacher_layers, layer_loss,
                                                      mask)
    return SampleLosses(kd, ce, cos, layers)
