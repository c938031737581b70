"""Tiny random sequence classifiers of the common encoder families, each saved with a
tokenizer of its own kind, so a test can load any of them as a teacher offline.

Every tokenizer is built here from the toy sentences (`conftest.make_sentences`) and
`tests/assets/vocab.txt`: WordPiece for the BERT-like families, byte-level BPE for
RoBERTa and ModernBERT, Unigram (SentencePiece-like) for XLM-R, DeBERTa-v3 and ALBERT,
each wrapped in the family's own `transformers` tokenizer class (its special tokens,
templates and input names), so `AutoTokenizer.from_pretrained(folder)` loads it.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

import torch
from conftest import ASSETS, make_sentences

# one model shape for all: 4 layers (students pick [0, 2]), width 32, 2 heads
SHAPE = {"hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2,
         "intermediate_size": 64, "max_position_embeddings": 64, "num_labels": 2}
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids as in the hub's


def _words() -> list[str]:
    """The words of vocab.txt, without BERT's special tokens."""
    return [w for w in (ASSETS / "vocab.txt").read_text(encoding="utf-8").split()
            if not (w.startswith("[") and w.endswith("]"))]


@cache
def _corpus() -> tuple[str, ...]:
    return tuple(make_sentences(200, seed=0)[0]) + tuple(_words())


def _wordpiece(specials: list[str]) -> dict[str, int]:
    """`specials`, then the words of vocab.txt."""
    return {w: i for i, w in enumerate(dict.fromkeys(specials + _words()))}


def _bpe(specials: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A byte-level BPE trained on the corpus, its vocabulary starting with `specials`."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(_corpus(), trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    model = json.loads(tok.to_str())["model"]
    return model["vocab"], [tuple(m) for m in model["merges"]]


def _unigram(specials: list[str]) -> list[tuple[str, float]]:
    """A SentencePiece-like Unigram vocabulary, `specials` first: the corpus's words as
    whole pieces (`▁word`), scored by their log frequency, and its characters as the
    fallback (the trainer of `tokenizers` keeps mostly characters on a corpus this small,
    which would make sentences too long for 64 positions)."""
    from collections import Counter

    words = Counter(w for text in _corpus() for w in text.split())
    chars = Counter(c for w in _corpus() for c in w)
    total = sum(words.values()) + sum(chars.values())
    pieces = [(f"\u2581{w}", math.log(n / total)) for w, n in words.most_common()]
    pieces += [(c, math.log(n / total) - 10) for c, n in chars.most_common()]
    return [(s, 0.0) for s in specials] + [("\u2581", -20.0)] + pieces


def _modernbert_tokenizer():
    """ModernBERT's hub tokenizer is a plain fast tokenizer: byte-level BPE, BERT's
    special tokens and template, no segment ids."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab, merges = _bpe(specials)
    tok = Tokenizer(models.BPE(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:0 [SEP]:0",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", padding_side="right",
        model_input_names=["input_ids", "attention_mask"])


def _tokenizer(family: str):
    from transformers import (AlbertTokenizer, BertTokenizer, DebertaV2Tokenizer,
                              DistilBertTokenizer,
                              MPNetTokenizer, RobertaTokenizer, XLMRobertaTokenizer)

    bert_specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    if family in ("bert", "electra"):  # ELECTRA's hub tokenizer is BERT's
        return BertTokenizer(vocab=_wordpiece(bert_specials), do_lower_case=True)
    if family == "distilbert":  # BERT's, without segment ids
        return DistilBertTokenizer(vocab=_wordpiece(bert_specials), do_lower_case=True)
    if family == "mpnet":
        return MPNetTokenizer(vocab=_wordpiece(ROBERTA_SPECIALS + ["[UNK]"]))
    if family == "roberta":
        return RobertaTokenizer(*_bpe(ROBERTA_SPECIALS))
    if family == "xlm-roberta":
        return XLMRobertaTokenizer(_unigram(ROBERTA_SPECIALS[:4]) + [("<mask>", 0.0)])
    if family == "deberta-v2":
        return DebertaV2Tokenizer(_unigram(bert_specials), unk_id=1)
    if family == "albert":
        return AlbertTokenizer(_unigram(["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]))
    if family == "modernbert":
        return _modernbert_tokenizer()
    raise ValueError(family)


# what each family's config differs in (beyond SHAPE and the tokenizer's ids)
CONFIGS = {
    "bert": {},
    "roberta": {"type_vocab_size": 1},
    "xlm-roberta": {"type_vocab_size": 1},
    "deberta-v2": {  # the v3 layout: relative positions in buckets, no absolute ones
        "type_vocab_size": 0, "relative_attention": True, "position_biased_input": False,
        "pos_att_type": ["p2c", "c2p"], "position_buckets": 16, "max_relative_positions": -1,
        "norm_rel_ebd": "layer_norm", "share_att_key": True},
    "electra": {"embedding_size": 16},  # projected up to hidden_size
    "distilbert": {"hidden_dim": 64},
    "mpnet": {},  # 32 relative buckets: transformers computes them for 32 whatever the config
    # global attention every 2nd layer, a local window narrower than the sentences
    "modernbert": {"global_attn_every_n_layers": 2, "local_attention": 4,
                   "classifier_pooling": "mean"},
    "albert": {"embedding_size": 16, "num_hidden_groups": 1, "inner_group_num": 1},
}
FAMILIES = tuple(CONFIGS)


def save_family(family: str, folder: Path, seed: int = 0) -> Path:
    """Save a tiny random `family` classifier (2 labels) and its tokenizer in `folder`."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    tokenizer = _tokenizer(family)
    ids = {f"{name}_token_id": getattr(tokenizer, f"{name}_token_id")
           for name in ("pad", "bos", "eos", "cls", "sep")}
    ids = {k: v for k, v in ids.items() if v is not None}
    ids.setdefault("bos_token_id", ids["cls_token_id"])  # ModernBERT's: its [CLS], [SEP]
    ids.setdefault("eos_token_id", ids["sep_token_id"])
    config = AutoConfig.for_model(family, vocab_size=len(tokenizer), hidden_dropout_prob=0.0,
                                  attention_probs_dropout_prob=0.0, dropout=0.0,
                                  attention_dropout=0.0, **ids, **SHAPE, **CONFIGS[family])
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(config).eval()
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
