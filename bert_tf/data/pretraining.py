"""BERT pre-training data from raw text, in `tf.data` with TF-Text ops.

Raw text → documents → next-sentence pairs → packed, masked batches, all in
the graph (google-research/bert `create_pretraining_data.py`, made a
streaming input pipeline):

1. Documents. `input_format="sentences"` is the original format: one sentence
   per line, a blank line between documents. `"paragraphs"` takes one
   document per line and splits it into sentences in the graph with TF-Text's
   `StateBasedSentenceBreaker`. Globs, many files (interleaved, shuffled),
   `.gz` files are read as gzip.
2. Chunks, per document, as the original: a target length of
   `max_seq_length - 3` tokens (with probability `short_seq_prob` a random
   length in [2, max]); whole sentences are gathered until the target is
   reached; segment A is the first 1..n-1 sentences of the chunk.
3. Next-sentence pairs: with probability 0.5 segment B is the rest of the
   chunk (`next_sentence_labels` 0), else sentences of a chunk from another
   document, up to the target length (label 1). A one-sentence chunk takes
   the document's next sentence as its actual continuation; one at the end
   of a document has none and is not used as segment A (the original makes
   it a random pair, which pushes its split above 50% random). Unlike the
   original, sentences of a chunk that got a random B are not put back for
   the next chunk.
4. The pair is truncated to `max_seq_length - 3` tokens as the original
   (the longer segment loses tokens, each from the front or the back with
   probability 0.5), packed by `BertPacker` and masked by
   `BertMaskedLmMasker` (dynamic: new masks every time an example is drawn).

All randomness is stateless, seeded per document and per batch from
`tf.data.Dataset.random(seed)`, so the pipeline is reproducible under a seed,
deterministic under parallel maps, identical on every worker of a
multi-worker job (it is sharded by data, not by file), and a resumed run can
skip to the batch where it stopped.

The offline mode (`bert_tf.data.pretraining_tfrecords`:
`write_pretraining_tfrecords`) writes `dupe_factor` passes over the corpus,
each with new pairs and masks, to sharded TFRecord files in the original
feature format, which `tfrecord_dataset` there reads back (it also reads files
written by the original script). Documents come from
`bert_tf.data.documents.read_documents`.

Features of a batch (B = batch, S = max_seq_length, P =
max_predictions_per_seq): `input_word_ids`, `input_mask`, `input_type_ids`
[B, S] int32; `masked_lm_positions`, `masked_lm_ids` [B, P] int32;
`masked_lm_weights` [B, P] float32; `next_sentence_labels` [B] int32.

Example:

>>> import os, tempfile
>>> from bert_tf.text import BertTokenizer
>>> folder = tempfile.mkdtemp()
>>> with open(os.path.join(folder, "a.txt"), "w") as f:
...   _ = f.write("the cat sat.\\nthe dog ran.\\nthe end.\\n\\n"
...               "a new story.\\nit is short.\\nvery short.\\n")
>>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat",
...          "sat", "dog", "ran", "end", "a", "new", "story", "it", "is",
...          "short", "very", "."]
>>> tokenizer = BertTokenizer(vocab, lower_case=True)
>>> ds = pretraining_dataset(os.path.join(folder, "*.txt"), tokenizer,
...                          batch_size=2, max_seq_length=16,
...                          max_predictions_per_seq=3, seed=1)
>>> batch = next(iter(ds))
>>> tuple(batch["input_word_ids"].shape), tuple(batch["masked_lm_ids"].shape)
((2, 16), (2, 3))
"""

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from bert_tf.data.documents import INPUT_FORMATS, read_documents
from bert_tf.text import vocab_io
from bert_tf.text.masking import BertMaskedLmMasker
from bert_tf.text.packer import BertPacker, trimmed_lengths
from bert_tf.text.tokenizer import BertTokenizer

__all__ = [
    "EXAMPLE_SETTINGS",
    "INPUT_FORMATS",
    "data_options",
    "read_documents",
    "FEATURE_NAMES",
    "pretraining_dataset",
    "to_model_inputs",
]

FEATURE_NAMES = (
    "input_word_ids",
    "input_mask",
    "input_type_ids",
    "masked_lm_positions",
    "masked_lm_ids",
    "masked_lm_weights",
    "next_sentence_labels",
)


def _ranges_gather(values: tf.Tensor, starts: tf.Tensor, lengths: tf.Tensor) -> tf.RaggedTensor:
    """Rows `values[starts[i] : starts[i] + lengths[i]]`, ragged [K, (len)]."""
    starts = tf.cast(starts, tf.int64)
    index = tf.ragged.range(starts, starts + tf.cast(lengths, tf.int64))
    return tf.gather(values, index)


class _Pipeline:
    """The per-document and per-batch steps, closed over their settings."""

    def __init__(
        self,
        tokenizer: BertTokenizer,
        max_seq_length: int,
        short_seq_prob: float,
        masker: BertMaskedLmMasker,
    ):
        ids = tokenizer.special_token_ids()
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.max_num_tokens = max_seq_length - 3  # [CLS] A [SEP] B [SEP]
        self.short_seq_prob = short_seq_prob
        self.masker = masker
        self.packer = BertPacker(
            max_seq_length,
            start_id=ids["start_of_sequence_id"],
            end_id=ids["end_of_segment_id"],
            pad_id=ids["padding_id"],
        )

    def tokenize(self, doc):
        tokens = self.tokenizer.tokenize(doc["sentences"])  # [N, (T)]
        tokens = tf.ragged.boolean_mask(tokens, tokens.row_lengths() > 0)
        return {"doc_key": doc["doc_key"], "tokens": tokens}

    def chunks(self, doc, seed):
        """One document → its chunks, A / actual-B segments and NSP coin flips."""
        tokens = doc["tokens"]  # [N, (T)]
        lengths = tf.cast(tokens.row_lengths(), tf.int32)  # [N]
        num_sentences = tf.size(lengths)
        seeds = tf.random.experimental.stateless_split(
            tf.cast(tf.stack([seed, doc["doc_key"]]), tf.int64), 4
        )
        short = tf.random.stateless_uniform([], seeds[0]) < self.short_seq_prob
        target = tf.where(
            short,
            tf.random.stateless_uniform(
                [],
                seeds[1],
                minval=2,
                maxval=self.max_num_tokens + 1,
                dtype=tf.int32,
            ),
            self.max_num_tokens,
        )

        # Greedy chunking: sentences join the current chunk until it reaches
        # `target` tokens (sequential, hence a scan over the sentences).
        def step(state, length):
            filled, chunk, _ = state
            filled += length
            done = filled >= target
            return (
                tf.where(done, 0, filled),
                chunk + tf.cast(done, tf.int32),
                chunk,
            )

        _, _, chunk_of = tf.scan(step, lengths, initializer=(0, 0, 0))  # [N]
        num_chunks = tf.reduce_max(chunk_of) + 1
        sentence = tf.range(num_sentences)
        start = tf.math.unsorted_segment_min(sentence, chunk_of, num_chunks)  # [K]
        size = tf.math.unsorted_segment_sum(tf.ones_like(sentence), chunk_of, num_chunks)  # [K]
        end = start + size
        # A = the first 1..size-1 sentences.
        a_size = 1 + tf.cast(
            tf.random.stateless_uniform([num_chunks], seeds[2])
            * tf.cast(tf.maximum(size - 1, 1), tf.float32),
            tf.int32,
        )
        a_size = tf.where(size >= 2, tf.minimum(a_size, size - 1), 1)
        is_random = tf.random.stateless_uniform([num_chunks], seeds[3]) < 0.5
        # Actual B: the rest of the chunk, or the next sentence for a
        # one-sentence chunk. A one-sentence chunk at the end of the document
        # has no continuation: it is dropped whatever its coin says, so the
        # kept chunks stay 50/50 (dropping only its "actual" case would not).
        b_end = tf.where(size >= 2, end, tf.minimum(start + 2, num_sentences))
        keep = b_end > start + a_size

        splits = tokens.row_splits  # [N + 1] int64
        flat = tokens.flat_values
        a_start, a_end = tf.gather(splits, start), tf.gather(splits, start + a_size)
        b_tok_end = tf.gather(splits, b_end)
        chunk_end = tf.gather(splits, end)
        # Sentence ends of each chunk, in tokens from the chunk start.
        sentence_ends = (
            tf.gather(splits, tf.ragged.range(start + 1, end + 1)) - (a_start[:, tf.newaxis])
        )  # [K, (size)]
        out = {
            "doc_key": tf.fill([num_chunks], doc["doc_key"]),
            "tokens_a": _ranges_gather(flat, a_start, a_end - a_start),
            "tokens_b": _ranges_gather(flat, a_end, b_tok_end - a_end),
            "chunk": _ranges_gather(flat, a_start, chunk_end - a_start),
            "chunk_sentence_ends": sentence_ends,
            "is_random_next": is_random,
            "target_b_length": target - tf.cast(a_end - a_start, tf.int32),
        }
        return {
            k: (
                tf.ragged.boolean_mask(v, keep)
                if isinstance(v, tf.RaggedTensor)
                else tf.boolean_mask(v, keep)
            )
            for k, v in out.items()
        }

    def batch(self, inst, seed):
        """A ragged batch of chunks → packed, masked features."""
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
        batch = tf.shape(inst["doc_key"])[0]
        row = tf.range(batch)
        # Random B: the chunk of the next row (rows come out of a shuffle
        # buffer), or the row after if the next one is from the same document.
        keys = inst["doc_key"]
        next1 = tf.math.floormod(row + 1, batch)
        next2 = tf.math.floormod(row + 2, batch)
        other = tf.where(
            (tf.gather(keys, next1) == keys) & (tf.gather(keys, next2) != keys),
            next2,
            next1,
        )  # [B]
        other_chunk = tf.gather(inst["chunk"], other)  # [B, (t)]
        other_ends = tf.gather(inst["chunk_sentence_ends"], other)  # [B, (n)]
        # Whole sentences until the B target is reached (or the chunk ends).
        need = tf.cast(tf.maximum(inst["target_b_length"], 1), tf.int64)
        taken = tf.reduce_sum(tf.cast(other_ends < need[:, tf.newaxis], tf.int64), axis=1)  # [B]
        taken = tf.minimum(taken, other_ends.row_lengths() - 1)
        random_length = tf.gather(other_ends.flat_values, other_ends.row_starts() + taken)  # [B]

        tokens_a, tokens_b = inst["tokens_a"], inst["tokens_b"]
        is_random = inst["is_random_next"]
        # B rows index one flat vector: actual Bs first, then the other chunks.
        b_values = tf.concat([tokens_b.flat_values, other_chunk.flat_values], 0)
        b_start = tf.where(
            is_random,
            tf.size(tokens_b.flat_values, out_type=tf.int64) + other_chunk.row_starts(),
            tokens_b.row_starts(),
        )  # [B]
        b_length = tf.where(is_random, random_length, tokens_b.row_lengths())

        # Truncate the pair as the original: the longer segment loses tokens,
        # each from the front or the back with probability 1/2.
        lengths = tf.cast(tf.stack([tokens_a.row_lengths(), b_length], 1), tf.int32)  # [B, 2]
        kept = trimmed_lengths(lengths, self.max_num_tokens, "round_robin")
        front = tf.random.stateless_binomial(
            tf.shape(lengths),
            seeds[0],
            counts=tf.cast(lengths - kept, tf.float32),
            probs=0.5,
            output_dtype=tf.int32,
        )  # [B, 2]
        a = _ranges_gather(
            tokens_a.flat_values,
            tokens_a.row_starts() + tf.cast(front[:, 0], tf.int64),
            kept[:, 0],
        )  # [B, (a)]
        b = _ranges_gather(
            b_values, b_start + tf.cast(front[:, 1], tf.int64), kept[:, 1]
        )  # [B, (b)]
        features = self.masker(self.packer([a, b]), seed=seeds[1])
        features["next_sentence_labels"] = tf.cast(is_random, tf.int32)
        return features


def _check_settings(
    tokenizer,
    batch_size,
    *,
    max_seq_length,
    max_predictions_per_seq,
    masked_lm_prob,
    short_seq_prob,
):
    # Keyword-only: two of the settings are probabilities, easy to swap.
    if not isinstance(tokenizer, BertTokenizer):
        raise TypeError(f"tokenizer must be a BertTokenizer, got {type(tokenizer).__name__}")
    tokenizer.require_special_tokens(
        (vocab_io.PAD, vocab_io.CLS, vocab_io.SEP, vocab_io.MASK),
        "pre-training",
    )
    if not isinstance(max_seq_length, int) or max_seq_length < 5:
        raise ValueError(f"max_seq_length must be an int >= 5, got {max_seq_length!r}")
    if not isinstance(max_predictions_per_seq, int) or max_predictions_per_seq < 1:
        raise ValueError(
            f"max_predictions_per_seq must be a positive int, got {max_predictions_per_seq!r}"
        )
    if not 0.0 < masked_lm_prob <= 1.0:
        raise ValueError(f"masked_lm_prob must be in (0, 1], got {masked_lm_prob!r}")
    if not 0.0 <= short_seq_prob <= 1.0:
        raise ValueError(f"short_seq_prob must be in [0, 1], got {short_seq_prob!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


def data_options() -> tf.data.Options:
    options = tf.data.Options()
    options.deterministic = True
    # Every worker builds the same global batches and keeps its share of each,
    # so a multi-worker job sees the data a single worker would.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options


# The `pretraining_dataset` arguments that shape the examples (not how they
# are batched, ordered or seeded): what `write_pretraining_tfrecords` passes on.
EXAMPLE_SETTINGS = (
    "max_seq_length",
    "max_predictions_per_seq",
    "masked_lm_prob",
    "short_seq_prob",
    "do_whole_word_mask",
    "input_format",
)


def pretraining_dataset(
    input_files: str | Sequence[str],
    tokenizer: BertTokenizer,
    batch_size: int,
    max_seq_length: int = 128,
    max_predictions_per_seq: int = 20,
    masked_lm_prob: float = 0.15,
    short_seq_prob: float = 0.1,
    do_whole_word_mask: bool = False,
    input_format: str = "sentences",
    seed: int | None = None,
    repeat: bool = True,
    shuffle: bool = True,
    document_shuffle_buffer: int = 1000,
    instance_shuffle_buffer: int = 1000,
) -> tf.data.Dataset:
    """Batches of packed, masked NSP pairs from raw text (see the module doc).

    Args:
      input_files: comma-separated globs or a list of globs / paths.
      tokenizer: a `BertTokenizer` whose vocabulary holds `[PAD]`, `[CLS]`,
        `[SEP]` and `[MASK]`.
      batch_size: examples per batch. With `repeat=True` every batch is full
        (static shape); else the last batch may be smaller.
      max_seq_length: S.
      max_predictions_per_seq: P.
      masked_lm_prob: fraction of the tokens to predict.
      short_seq_prob: probability of a shorter target length per document.
      do_whole_word_mask: mask all pieces of a word together.
      input_format: `"sentences"` or `"paragraphs"`.
      seed: makes the pipeline reproducible; None varies every run.
      repeat: loop over the corpus forever, with new pairs and masks on every
        pass (training); False makes one pass (evaluation, offline writing).
      shuffle: shuffle files, documents and examples.
      document_shuffle_buffer: documents held by the document shuffle.
      instance_shuffle_buffer: examples held by the example shuffle; it also
        keeps a document's chunks apart, so random Bs come from other
        documents.

    Returns:
      A dataset of feature dicts (`FEATURE_NAMES`).

    Raises:
      FileNotFoundError, ValueError, TypeError: naming the bad input.
    """
    _check_settings(
        tokenizer,
        batch_size,
        max_seq_length=max_seq_length,
        max_predictions_per_seq=max_predictions_per_seq,
        masked_lm_prob=masked_lm_prob,
        short_seq_prob=short_seq_prob,
    )
    masker = BertMaskedLmMasker(
        tokenizer.vocabulary,
        masked_lm_prob=masked_lm_prob,
        max_predictions_per_seq=max_predictions_per_seq,
        whole_word_mask=do_whole_word_mask,
        suffix_indicator=tokenizer.suffix_indicator,
    )
    pipeline = _Pipeline(tokenizer, max_seq_length, short_seq_prob, masker)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    docs = read_documents(
        input_files,
        input_format,
        shuffle=shuffle,
        repeat=repeat,
        seed=seed,
        document_shuffle_buffer=document_shuffle_buffer,
    )
    docs = docs.map(pipeline.tokenize, num_parallel_calls=tf.data.AUTOTUNE)
    docs = docs.filter(lambda d: d["tokens"].nrows() > 0)
    # One random seed per document and per batch. An endless dataset draws a
    # new seed each time a document comes round again (dynamic pairs and
    # masks) and gives the same stream from every new iterator: Keras may
    # open one twice (distributed models are built on a first batch), and a
    # resumed run must see the data of the run it continues. A finite
    # dataset instead draws new seeds and orders on every pass.
    doc_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=not repeat)
    chunks = tf.data.Dataset.zip(docs, doc_seeds).map(
        pipeline.chunks, num_parallel_calls=tf.data.AUTOTUNE
    )
    instances = chunks.flat_map(tf.data.Dataset.from_tensor_slices)
    if shuffle:
        instances = instances.shuffle(
            instance_shuffle_buffer, seed=seed + 1, reshuffle_each_iteration=not repeat
        )
    batches = instances.ragged_batch(batch_size, drop_remainder=repeat)
    batch_seeds = tf.data.Dataset.random(
        seed=seed + 2, rerandomize_each_iteration=not repeat
    ).batch(2)
    ds = tf.data.Dataset.zip(batches, batch_seeds).map(
        pipeline.batch, num_parallel_calls=tf.data.AUTOTUNE
    )
    return ds.prefetch(tf.data.AUTOTUNE).with_options(data_options())


def to_model_inputs(
    features: dict[str, tf.Tensor],
) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
    """Features → `(x, y)` for `BertPretrainer` and `Model.fit`.

    `y["mlm_logits"]` holds the masked ids with -1 at unused prediction slots
    (the ignored label of `MaskedSparseCategoricalCrossentropy`);
    `y["nsp_logits"]` the next-sentence labels (1 = random B).
    """
    x = {
        k: features[k]
        for k in (
            "input_word_ids",
            "input_mask",
            "input_type_ids",
            "masked_lm_positions",
        )
    }
    y = {
        "mlm_logits": tf.where(features["masked_lm_weights"] > 0, features["masked_lm_ids"], -1),
        "nsp_logits": features["next_sentence_labels"],
    }
    return x, y
