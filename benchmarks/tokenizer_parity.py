"""Agreement of bert_tf's in-graph tokenizer with the original BERT and peers.

Prints one JSON line: for the uncased MiniLM vocab and a cased vocab learned
from the same corpus, the share of lines whose ids equal the original BERT
`FullTokenizer` (google-research/bert via Model Garden, 200-character word
limit), HF `tokenizers`' BertWordPiece, keras-hub's `BertTokenizer` and stock
TF-Text `FastBertTokenizer`, on the standard library's docstrings and on the
multilingual edge sample; plus the known differences.

  python benchmarks/tokenizer_parity.py
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras_hub
import tensorflow as tf
import tensorflow_text as tf_text
import tokenizers
from _common import emit, machine, minilm_vocab
from official.nlp.tools import tokenization

from bert_tf.data import stdlib_corpus
from bert_tf.data.edge_text import EDGE_CASES
from bert_tf.text import BertTokenizer, learn_vocabulary, load_vocabulary, normalizer


def agreement(a, b):
    same = sum(x == y for x, y in zip(a, b))
    return round(same / len(a), 6), [i for i, (x, y) in enumerate(zip(a, b)) if x != y]


def measure(vocab, lower_case, texts):
    path = "/tmp/_parity_vocab.txt"
    with open(path, "w") as f:
        f.write("\n".join(vocab) + "\n")
    ours = BertTokenizer(vocab, lower_case=lower_case)(tf.constant(texts)).to_list()
    ref = tokenization.FullTokenizer(path, do_lower_case=lower_case)
    ref.wordpiece_tokenizer.max_input_chars_per_word = 200
    original = [ref.convert_tokens_to_ids(ref.tokenize(t)) for t in texts]
    hf = tokenizers.Tokenizer(
        tokenizers.models.WordPiece.from_file(path, unk_token="[UNK]", max_input_chars_per_word=200)
    )
    hf.normalizer = tokenizers.normalizers.BertNormalizer(
        strip_accents=lower_case, lowercase=lower_case
    )
    hf.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    hf_ids = [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    kh = keras_hub.tokenizers.BertTokenizer(vocabulary=vocab, lowercase=lower_case)
    kh_ids = kh(tf.constant(texts))
    # Eager keras-hub tokenizers answer with Python lists.
    kh_ids = (
        kh_ids.to_list() if hasattr(kh_ids, "to_list") else [list(map(int, row)) for row in kh_ids]
    )
    stock = (
        tf_text.FastBertTokenizer(
            vocab,
            lower_case_nfd_strip_accents=lower_case,
            max_bytes_per_word=200,
            token_out_type=tf.int32,
        )
        .tokenize(tf.constant(texts))
        .to_list()
    )
    result = {}
    for name, ids in (
        ("bert_tf", ours),
        ("hf_tokenizers", hf_ids),
        ("keras_hub", kh_ids),
        ("tf_text_fast_bert_stock", stock),
    ):
        rate, bad = agreement(ids, original)
        result[f"{name}_vs_original"] = rate
        if name == "bert_tf":
            result["bert_tf_differing_lines"] = [texts[i][:80] for i in bad[:5]]
    result["bert_tf_vs_hf_tokenizers"] = agreement(ours, hf_ids)[0]
    return result


def main():
    lines = stdlib_corpus.lines()
    edge = list(EDGE_CASES) + ["ΟΔΟΣ ΚΑΙ ΛΟΓΟΣ"]  # + the known difference.
    uncased_vocab = load_vocabulary(minilm_vocab())
    cased_vocab = learn_vocabulary(lines[::2], vocab_size=8000, lower_case=False)
    out = {
        "corpus": f"stdlib docstrings, Python {stdlib_corpus.python_version_tag()}",
        "corpus_lines": len(lines),
        "edge_lines": len(edge),
        "known_differences": list(normalizer.KNOWN_DIFFERENCES),
        "machine": machine(),
    }
    for casing, vocab, lower in (
        ("uncased_minilm", uncased_vocab, True),
        ("cased_learned", cased_vocab, False),
    ):
        out[casing] = {
            "stdlib": measure(vocab, lower, lines),
            "edge": measure(vocab, lower, edge),
            "vocab_size": len(vocab),
        }
    emit(out)


if __name__ == "__main__":
    main()
