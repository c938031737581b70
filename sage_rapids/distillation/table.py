"""The example table: real examples as token ids, synthetic ones as recipes.

Real examples are never stored as vectors: `E_T[x]` is an exact, cheap lookup done
per batch on the device. A synthetic example is a recipe, k source indices and k
weights (k = 2 for a pair mix), plus its teacher logits: tens of bytes each. Its
vectors are materialised per batch, so no (m, L, H) synthetic tensor ever exists.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from ..backend import Backend
from ..data.text_dataset import TextDataset
from .models import lookup


@dataclass(frozen=True)
class ExampleTable:
    """Real examples on the backend's device, stored ragged: a corpus costs its real
    tokens, not its longest example times its size. Batches are padded per batch.

    Attributes:
        ids: (T,) int32 token ids of all examples, end to end.
        offsets: (n + 1,) int64; example i is `ids[offsets[i]:offsets[i + 1]]`.
        type_ids: (T,) int8 segment ids for sentence pairs, or None.
        lengths: (n,) int32 number of tokens of each example.
        labels: (n,) int64 gold labels (-1: unlabelled), or float32 scores (NaN).
        teacher_logits: (n, C) float32, filled by stage 1.
        teacher_pooled: (n, H) float16 pooled teacher states (only for `loss.cosine`).
        teacher_layers: (n, J, H) float16 pooled states of the teacher's mapped layers
            (only for `loss.layers`).
        host_lengths: (n,) NumPy copy of `lengths`, used to plan batches.
        pad_id: the tokenizer's padding id, written into padded batch positions.
    """

    ids: Any
    offsets: Any
    type_ids: Any
    lengths: Any
    labels: Any
    host_lengths: np.ndarray
    teacher_logits: Any = None
    teacher_pooled: Any = None
    pad_id: int = 0
    teacher_layers: Any = None

    def __len__(self) -> int:
        return len(self.host_lengths)

    def with_targets(self, logits: Any, pooled: Any = None, layers: Any = None
                     ) -> "ExampleTable":
        return replace(self, teacher_logits=logits, teacher_pooled=pooled,
                       teacher_layers=layers)


def ragged_table(ids: np.ndarray, lengths: np.ndarray, type_ids: np.ndarray | None,
                 labels: np.ndarray, backend: Backend, pad_id: int = 0,
                 teacher_logits: np.ndarray | None = None) -> ExampleTable:
    """An `ExampleTable` on the backend's device from flat host arrays.

    Args:
        ids: (T,) token ids of every example, end to end (T = lengths.sum()).
        lengths: (n,) tokens per example.
        type_ids: (T,) segment ids, or None.
        labels: (n,) int labels, or float scores (NaN: none).
        teacher_logits: (n, C), when already computed (an encoded corpus).
    """
    lengths = np.asarray(lengths, dtype=np.int32)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if len(ids) != offsets[-1]:
        raise ValueError(f"{len(ids)} token ids for lengths summing to {offsets[-1]}")
    return ExampleTable(
        ids=backend.asarray(np.asarray(ids, dtype=np.int32)), offsets=backend.asarray(offsets),
        type_ids=None if type_ids is None else backend.asarray(
            np.asarray(type_ids, dtype=np.int8)),
        lengths=backend.asarray(lengths), labels=backend.asarray(
            labels.astype(np.float32 if labels.dtype.kind == "f" else np.int64)),
        host_lengths=lengths, pad_id=int(pad_id),
        teacher_logits=None if teacher_logits is None else backend.asarray(
            np.asarray(teacher_logits, dtype=np.float32)))


@dataclass(frozen=True)
class SyntheticPool:
    """Synthetic examples as recipes.

    Attributes:
        sources: (m, k) int32 indices of real examples; column 0 is the anchor.
        weights: (m, k) float32 mixing weights, each row summing to 1.
        logits: (m, C) float32 teacher logits of the materialised mix.
        host_lengths: (m,) NumPy token count of each synthetic example (the longest of
            its sources), used to plan batches; None until `with_lengths`.
        layers: (m, J, H) float16 pooled states of the teacher's mapped layers on the
            materialised mix (only for `loss.layers`).
    """

    sources: Any
    weights: Any
    logits: Any
    host_lengths: np.ndarray | None = None
    layers: Any = None

    def with_lengths(self, table: "ExampleTable", backend: Backend) -> "SyntheticPool":
        """This pool with `host_lengths` (one small copy to the host when missing)."""
        if self.host_lengths is not None:
            return self
        if len(self) == 0:
            return replace(self, host_lengths=np.zeros(0, dtype=np.int32))
        lengths = table.lengths[self.sources].max(axis=1)  # (m,) on the device
        return replace(self, host_lengths=backend.to_host(lengths).astype(np.int32))

    def __len__(self) -> int:
        return int(self.sources.shape[0])

    def nbytes_per_example(self) -> float:
        """Bytes held per synthetic example, measured from the arrays."""
        if len(self) == 0:
            return 0.0
        total = self.sources.nbytes + self.weights.nbytes + self.logits.nbytes
        total += 0 if self.layers is None else self.layers.nbytes
        return total / len(self)


@dataclass(frozen=True)
class Examples:
    """What an epoch trains on and a round draws from: the real examples, the synthetic
    pool, and the teacher's word table `E_T` that both are looked up in; the teacher
    itself where a loss needs it on every batch (per-token or attention transfer)."""

    table: ExampleTable
    pool: SyntheticPool
    embeddings: torch.Tensor  # (V, H_T) frozen
    teacher: torch.nn.Module | None = None  # in eval mode, no gradient


def empty_pool(backend: Backend, k: int = 2, num_labels: int = 2) -> SyntheticPool:
    xp = backend.xp
    return SyntheticPool(xp.zeros((0, k), dtype=xp.int32), xp.zeros((0, k), dtype=xp.float32),
                         xp.zeros((0, num_labels), dtype=xp.float32))


def encode_dataset(dataset: TextDataset, tokenizer, max_length: int,
                   backend: Backend) -> tuple[ExampleTable, int]:
    """Stage 0: tokenize every example once with the teacher's tokenizer.

    Args:
        dataset: texts (and pairs) with labels.
        tokenizer: the teacher's (fast) tokenizer.
        max_length: longer inputs are truncated.
        backend: where the arrays live.

    Returns:
        (table, number of truncated examples); a warning is issued once if any.
    """
    enc, too_long = tokenize(dataset, tokenizer, max_length)
    lengths = np.fromiter((len(x) for x in enc["input_ids"]), dtype=np.int32,
                          count=len(dataset))
    ids = _flat(enc["input_ids"], np.int32, int(lengths.sum()))
    type_ids = None
    if dataset.pairs is not None:
        type_ids = (_flat(enc["token_type_ids"], np.int8, len(ids))
                    if "token_type_ids" in enc else np.zeros(len(ids), dtype=np.int8))
    if too_long:
        warnings.warn(f"{dataset.source}: {too_long} of {len(dataset)} examples are longer "
                      f"than data.max_length={max_length} tokens and were truncated",
                      stacklevel=1)
    table = ragged_table(ids, lengths, type_ids, dataset.labels, backend,
                         tokenizer.pad_token_id or 0)
    return table, too_long


def tokenize(dataset: TextDataset, tokenizer, max_length: int) -> tuple[dict, int]:
    """The tokenizer's encoding of `dataset`, truncated to `max_length`, and the number of
    examples that were longer."""
    args = (dataset.texts, dataset.pairs) if dataset.pairs is not None else (dataset.texts,)
    full = tokenizer(*args, truncation=False, verbose=False)["input_ids"]
    too_long = sum(len(ids) > max_length for ids in full)
    return tokenizer(*args, truncation=True, max_length=max_length), too_long


def _flat(rows: list[list[int]], dtype, total: int) -> np.ndarray:
    return np.fromiter(itertools.chain.from_iterable(rows), dtype=dtype, count=total)


@dataclass(frozen=True)
class Batch:
    """One batch, materialised on the device."""

    vectors: torch.Tensor  # (B, L, H_T)
    mask: torch.Tensor  # (B, L)
    type_ids: torch.Tensor | None  # (B, L)
    labels: torch.Tensor  # (B,) gold labels, -1 for synthetic; or scores, NaN for synthetic
    teacher_logits: torch.Tensor | None  # (B, C)
    teacher_pooled: torch.Tensor | None  # (B, H)
    real_index: torch.Tensor  # (B,) table index of real rows, -1 for synthetic
    teacher_layers: torch.Tensor | None = None  # (B, J, H) the teacher's mapped layers


def _tokens(table: ExampleTable, idx: torch.Tensor, width: int, backend: Backend):
    """Rows `idx` of the ragged table, padded to `width`: ids, mask and segment ids."""
    lengths = backend.to_torch(table.lengths)[idx]  # (b,)
    steps = torch.arange(width, device=lengths.device)
    mask = steps[None, :] < lengths[:, None]  # (b, L)
    flat = backend.to_torch(table.ids)
    positions = backend.to_torch(table.offsets)[idx][:, None] + steps[None, :]  # (b, L)
    positions = torch.where(mask, positions, torch.zeros_like(positions))  # stay in range
    # ids and segment ids are stored narrow (int32, int8); embedding lookups need int64
    ids = torch.where(mask, flat[positions].long(), table.pad_id)
    types = None
    if table.type_ids is not None:
        types = torch.where(mask, backend.to_torch(table.type_ids)[positions].long(), 0)
    return ids, mask.long(), types


def _gather(table: ExampleTable, embeddings: torch.Tensor, idx: torch.Tensor, width: int,
            backend: Backend):
    ids, mask, types = _tokens(table, idx, width, backend)
    return lookup(embeddings, ids), mask, types


def token_batch(table: ExampleTable, index: np.ndarray, backend: Backend) -> dict:
    """Model keyword arguments for token-level calls (fine-tuning, online KD, scoring).

    Returns:
        {"input_ids": (B, L) long, "attention_mask": (B, L), ["token_type_ids": (B, L)]},
        trimmed to the longest example of the batch.
    """
    width = int(table.host_lengths[index].max())
    ids, mask, types = _tokens(table, torch.as_tensor(index, device=backend.device), width,
                               backend)
    batch = {"input_ids": ids.long(), "attention_mask": mask}
    if types is not None:
        batch["token_type_ids"] = types.long()
    return batch


def real_batch(table: ExampleTable, embeddings: torch.Tensor, index: np.ndarray,
               backend: Backend) -> Batch:
    """Materialise real examples `index` as `E_T[x]`, trimmed to the longest."""
    width = int(table.host_lengths[index].max())
    idx = torch.as_tensor(index, device=backend.device)
    vectors, mask, types = _gather(table, embeddings, idx, width, backend)
    pooled = None if table.teacher_pooled is None else backend.to_torch(
        table.teacher_pooled)[idx].float()
    logits = None if table.teacher_logits is None else backend.to_torch(table.teacher_logits)[idx]
    layers = None if table.teacher_layers is None else backend.to_torch(
        table.teacher_layers)[idx].float()  # (B, J, H)
    return Batch(vectors, mask, types, backend.to_torch(table.labels)[idx], logits, pooled, idx,
                 layers)


def synthetic_batch(table: ExampleTable, pool: SyntheticPool, embeddings: torch.Tensor,
                    index: np.ndarray, backend: Backend) -> Batch:
    """Materialise synthetic examples `index` of `pool` (with lengths) from their recipes.

    The vectors are the token-wise weighted mix of the sources' padded vectors;
    the mask is the union of the sources' masks; segment ids come from the anchor.
    """
    width = int(pool.host_lengths[index].max())
    idx = torch.as_tensor(index, device=backend.device)
    sources = backend.to_torch(pool.sources)[idx].long()  # (b, k)
    weights = backend.to_torch(pool.weights)[idx]  # (b, k)
    b, k = sources.shape
    vecs, mask, types = _gather(table, embeddings, sources.reshape(-1), width, backend)
    vecs = vecs.reshape(b, k, width, -1)  # (b, k, L, H)
    vectors = (weights[:, :, None, None] * vecs).sum(1)  # (b, L, H)
    mask = mask.reshape(b, k, width).amax(1)  # (b, L) union
    if types is not None:
        types = types.reshape(b, k, width)[:, 0]
    logits = backend.to_torch(pool.logits)[idx]
    minus = torch.full((b,), -1, dtype=torch.long, device=backend.device)
    labels = minus  # synthetic points have no gold label: -1, or NaN for scores
    if table.labels.dtype.kind == "f":  # NumPy and CuPy arrays carry a NumPy dtype
        labels = torch.full((b,), float("nan"), dtype=torch.float32, device=backend.device)
    layers = None if pool.layers is None else backend.to_torch(pool.layers)[idx].float()
    return Batch(vectors, mask, types, labels, logits, None, minus, layers)


def bucketed_batches(lengths: np.ndarray, batch_size: int, bucket_batches: int,
                     rng: np.random.Generator) -> list[np.ndarray]:
    """Length-bucketed batches so short texts do not pay for long ones' padding.

    Indices are shuffled, cut into buckets of `batch_size * bucket_batches`, sorted
    by length inside each bucket, cut into batches, and the batches shuffled.

    Args:
        lengths: (n,) token counts.

    Returns:
        A list of int64 index arrays covering 0..n-1 once.
    """
    order = rng.permutation(len(lengths))
    span = batch_size * bucket_batches
    batches = []
    for start in range(0, len(order), span):
        bucket = order[start:start + span]
        bucket = bucket[np.argsort(lengths[bucket], kind="stable")]
        batches += [bucket[i:i + batch_size] for i in range(0, len(bucket), batch_size)]
    rng.shuffle(batches)
    return batches


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Deterministic batches sorted by length, for inference."""
    order = np.argsort(lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
