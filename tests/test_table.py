import numpy as np
import pytest
import torch
from conftest import make_sentences, tiny_bert, tiny_tokenizer

from sage_rapids.backend import resolve_backend
from sage_rapids.data.tasks import TextDataset
from sage_rapids.distillation.models import input_embeddings, vector_forward
from sage_rapids.distillation.table import (
    SyntheticPool,
    bucketed_batches,
    encode_dataset,
    real_batch,
    synthetic_batch,
)
from sage_rapids.distillation.targets import label_synthetic

CPU = resolve_backend("cpu")


def table_of(n=20, max_length=64, pairs=False):
    texts, labels = make_sentences(n)
    ds = TextDataset(texts, texts[::-1] if pairs else None, np.array(labels), ["0", "1"], "toy")
    return encode_dataset(ds, tiny_tokenizer(), max_length, CPU)


def padded(table, pairs: bool = False):
    """The table's rows as the tokenizer pads them, rebuilt from the ragged storage."""
    width = int(table.host_lengths.max())
    ids = np.zeros((len(table), width), dtype=np.int64)
    types = np.zeros((len(table), width), dtype=np.int64)
    for i in range(len(table)):
        a, b = table.offsets[i], table.offsets[i + 1]
        ids[i, : b - a] = table.ids[a:b]
        if pairs:
            types[i, : b - a] = table.type_ids[a:b]
    return ids, types


def test_encode_keeps_ids_lengths_and_counts_truncation():
    table, truncated = table_of(max_length=64)
    assert truncated == 0 and table.ids.dtype == np.int32 and table.ids.ndim == 1
    assert len(table.ids) == table.lengths.sum()  # ragged: no padding stored
    texts, _ = make_sentences(20)
    reference = tiny_tokenizer()(texts, padding=True, return_tensors="np")
    np.testing.assert_array_equal(padded(table)[0], reference["input_ids"])
    with pytest.warns(UserWarning, match="longer than data.max_length=6"):
        short, truncated = table_of(max_length=6)
    assert truncated > 0 and short.host_lengths.max() == 6


def test_materialised_synthetic_vector_equals_hand_mix():
    table, _ = table_of(pairs=True)
    E = input_embeddings(tiny_bert()).detach()
    sources = np.array([[3, 7], [5, 1]], dtype=np.int32)
    weights = np.array([[0.7, 0.3], [0.9, 0.1]], dtype=np.float32)
    pool = SyntheticPool(sources, weights, np.zeros((2, 2), np.float32)).with_lengths(table, CPU)
    np.testing.assert_array_equal(pool.host_lengths, table.host_lengths[sources].max(1))
    batch = synthetic_batch(table, pool, E, np.array([0, 1]), CPU)
    width = int(table.host_lengths[sources].max())
    for row in range(2):
        a, b = sources[row]
        ids, types = padded(table, pairs=True)
        va, vb = E[ids[a, :width]], E[ids[b, :width]]
        expected = weights[row, 0] * va + weights[row, 1] * vb
        torch.testing.assert_close(batch.vectors[row], expected)
        union = (np.arange(width) < max(table.lengths[a], table.lengths[b])).astype(np.int64)
        assert batch.mask[row].tolist() == union.tolist()
        assert batch.type_ids[row].tolist() == types[a, :width].tolist()
    assert batch.labels.tolist() == [-1, -1]


@pytest.mark.parametrize("pairs", [False, True])
def test_batches_from_ragged_storage_equal_batches_from_the_padded_table(pairs):
    texts, labels = make_sentences(40, seed=5)
    second = texts[::-1] if pairs else None
    ds = TextDataset(texts, second, np.array(labels), ["0", "1"], "toy")
    table, _ = encode_dataset(ds, tiny_tokenizer(), 64, CPU)
    args = (texts, second) if pairs else (texts,)
    reference = tiny_tokenizer()(*args, padding=True, return_tensors="pt")  # (n, L) padded
    E = input_embeddings(tiny_bert()).detach()
    rng = np.random.default_rng(2)
    for _ in range(5):
        index = rng.choice(len(texts), size=7, replace=False)
        batch = real_batch(table, E, index, CPU)
        width = int(reference["attention_mask"][index].sum(1).max())
        torch.testing.assert_close(batch.vectors, E[reference["input_ids"][index, :width]],
                                   rtol=0, atol=0)
        assert torch.equal(batch.mask, reference["attention_mask"][index, :width])
        if pairs:
            assert torch.equal(batch.type_ids, reference["token_type_ids"][index, :width])


def test_teacher_labels_synthetic_points_through_inputs_embeds():
    table, _ = table_of()
    teacher = tiny_bert()
    E = input_embeddings(teacher).detach()
    sources = np.array([[0, 1], [2, 3], [4, 4]], dtype=np.int32)
    weights = np.array([[0.6, 0.4], [0.8, 0.2], [0.5, 0.5]], dtype=np.float32)
    pool = label_synthetic(teacher, table, sources, weights, E, CPU, batch_size=2)
    batch = synthetic_batch(table, pool, E, np.arange(3), CPU)
    with torch.no_grad():
        direct = vector_forward(teacher, batch.vectors, batch.mask).logits
    np.testing.assert_allclose(pool.logits, direct.numpy(), rtol=1e-5, atol=1e-6)
    # a 50/50 mix of an example with itself is that example
    real = real_batch(table, E, np.array([4]), CPU)
    with torch.no_grad():
        alone = vector_forward(teacher, real.vectors, real.mask).logits
    np.testing.assert_allclose(pool.logits[2], alone[0].numpy(), rtol=1e-5, atol=1e-6)


def test_bucketed_batches_cover_every_index_once_and_group_lengths():
    lengths = np.random.default_rng(0).integers(3, 60, size=1000)
    batches = bucketed_batches(lengths, 32, 10, np.random.default_rng(1))
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < 0.5 * np.ptp(lengths)  # bucketing keeps a batch's lengths close


def test_synthetic_memory_is_tens_of_bytes_plus_logits():
    m, c = 1000, 2
    pool = SyntheticPool(np.zeros((m, 2), np.int32), np.zeros((m, 2), np.float32),
                         np.zeros((m, c), np.float32))
    assert pool.nbytes_per_example() == 16 + 4 * c
