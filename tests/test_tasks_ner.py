"""NER: CoNLL reading, IOB1 -> IOB2, offset alignment, seqeval-equal metrics."""

import json
import os
import warnings

import numpy as np
import pytest
import tasks_testing as tt

from bert_tf.tasks import ner

seqeval_metrics = pytest.importorskip("seqeval.metrics")
from seqeval.metrics.sequence_labeling import get_entities as seqeval_entities  # noqa: E402

CONLL = """-DOCSTART- -X- O

John\tNNP\tB-PER
Smith's\tNNP\tI-PER
dog\tNN\tO
jumped\tVBD\tO

Acme\tNNP\tB-ORG
Corp\tNNP\tI-ORG
in\tIN\tO
Paris\tNNP\tB-LOC
(1990)\tCD\tO
qqq\tNN\tB-MISC
"""


def test_read_conll_and_iob1(tmp_path):
    path = tt.write(str(tmp_path), "a.conll", CONLL)
    data = ner.read_conll(path)
    assert data.words[0] == ["John", "Smith's", "dog", "jumped"]
    assert data.tags[1] == ["B-ORG", "I-ORG", "O", "B-LOC", "O", "B-MISC"]
    assert data.lines[1][0] == 8
    iob1 = tt.write(
        str(tmp_path), "b.conll", "John I-PER\nSmith I-PER\nAnn B-PER\nin O\nParis I-LOC\n"
    )
    assert ner.read_conll(iob1).tags == [["B-PER", "I-PER", "B-PER", "O", "B-LOC"]]


@pytest.mark.parametrize(
    "text,match",
    [
        ("John B-PER\nSmith\n", r"c\.conll:2: malformed CoNLL line.*'Smith'"),
        ("John B-PER\nSmith X-PER\n", r"c\.conll:2: column 2: tag 'X-PER'"),
        ("", r"c\.conll: no sentences"),
    ],
)
def test_read_conll_errors(tmp_path, text, match):
    path = tt.write(str(tmp_path), "c.conll", text)
    with pytest.raises(ValueError, match=match):
        ner.read_conll(path)


def test_missing_file_and_unseen_tag(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.conll"):
        ner.read_conll(str(tmp_path / "nope.conll"))
    data = ner.read_conll(tt.write(str(tmp_path), "d.conll", "a O\nb B-PER\n\nc B-XYZ\n"))
    with pytest.raises(
        ValueError,
        match=r"d\.conll:4: tag 'B-XYZ' was not "
        "seen in training",
    ):
        ner.encode_tags(data, ["O", "B-PER", "I-PER"])


def test_alignment_first_piece_carries_label(tmp_path):
    tokenizer = tt.tokenizer(str(tmp_path))
    words = ["John", "Smith's", "(1990)", "qqq", "jumped"]
    out = ner.align_words(tokenizer, words, [1, 2, 0, 3, 4], seq_length=12)
    pieces = [tokenizer.id_to_token(i) for i in out["input_word_ids"].numpy()]
    assert pieces == [
        "[CLS]",
        "john",
        "smith",
        "'",
        "s",
        "(",
        "1990",
        ")",
        "[UNK]",
        "jump",
        "##ed",
        "[SEP]",
    ]
    assert out["labels"].numpy().tolist() == [-1, 1, 2, -1, -1, 0, -1, -1, 3, 4, -1, -1]
    assert out["word_positions"].numpy().tolist() == [1, 2, 5, 8, 9]
    # Truncation: words past max_seq_length - 2 pieces get position -1.
    short = ner.align_words(tokenizer, words, [1, 2, 0, 3, 4], seq_length=6)
    assert short["word_positions"].numpy().tolist() == [1, 2, -1, -1, -1]
    assert short["input_mask"].numpy().tolist() == [1] * 6


def _random_tags(rng, n):
    choices = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    return [choices[i] for i in rng.integers(0, len(choices), n)]


def test_entities_and_metrics_equal_seqeval():
    rng = np.random.default_rng(0)
    gold = [_random_tags(rng, int(rng.integers(1, 15))) for _ in range(300)]
    # Predictions: gold with some tags flipped (invalid I- after O included).
    pred = []
    for sentence in gold:
        flips = rng.random(len(sentence)) < 0.2
        pred.append(
            [
                t if not f else r
                for t, f, r in zip(sentence, flips, _random_tags(rng, len(sentence)))
            ]
        )
    for sentence in gold[:50] + pred[:50]:
        assert ner.get_entities(sentence) == [tuple(e) for e in seqeval_entities(sentence)]
    got = ner.entity_metrics(gold, pred)
    assert got["precision"] == pytest.approx(seqeval_metrics.precision_score(gold, pred))
    assert got["recall"] == pytest.approx(seqeval_metrics.recall_score(gold, pred))
    assert got["f1"] == pytest.approx(seqeval_metrics.f1_score(gold, pred))
    report = seqeval_metrics.classification_report(gold, pred, output_dict=True)
    for kind, scores in got["types"].items():
        assert scores["f1"] == pytest.approx(report[kind]["f1-score"])
        assert scores["support"] == report[kind]["support"]
    assert 0.3 < got["f1"] < 0.95


def test_finetune_evaluate_predict(tmp_path):
    d = str(tmp_path)
    sentences = []
    for i in range(24):
        name = ["John", "Smith"][i % 2]
        city = ["Paris", "London"][i % 2]
        sentences.append(f"{name} B-PER\nlives O\nin O\n{city} B-LOC\n. O\n")
    train = tt.write(d, "train.conll", "\n".join(sentences))
    data = ner.read_conll(train)
    encoder = tt.tiny_encoder()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ner.finetune_ner(
            data,
            encoder,
            tt.tokenizer(d),
            os.path.join(d, "vocab.txt"),
            os.path.join(d, "model"),
            eval_data=data,
            max_seq_length=12,
            train_batch_size=8,
            learning_rate=5e-3,
            num_train_epochs=4,
            warmup_proportion=0.0,
            verbose=0,
        )
    # The token classifier does not use the pooler, so it is not trained, and
    # Keras has nothing to warn about.
    assert not [w for w in caught if "Gradients do not exist" in str(w.message)]
    assert result["best_epoch"] in (1, 2, 3, 4)
    assert os.path.exists(os.path.join(d, "model", "model.keras"))
    losses = result["history"]["loss"]
    assert losses[-1] < losses[0]
    metrics = ner.evaluate_ner(os.path.join(d, "model"), data)
    assert metrics["f1"] == pytest.approx(result["eval"]["f1"])
    out = os.path.join(d, "pred.jsonl")
    records = ner.predict_ner(os.path.join(d, "model"), data, out)
    with open(out) as f:
        lines = [json.loads(line) for line in f]
    assert lines == json.loads(json.dumps(records))
    assert len(lines) == 24 and lines[0]["words"][0] == "John"
    assert len(lines[0]["tags"]) == 5
    # Same predictions, same seqeval F1.
    assert metrics["f1"] == pytest.approx(
        seqeval_metrics.f1_score(data.tags, [r["tags"] for r in records])
    )
    unseen = ner.read_conll(tt.write(d, "dev.conll", "John B-ORG\n"))
    with pytest.raises(ValueError, match="B-ORG' was not seen in training"):
        ner.evaluate_ner(os.path.join(d, "model"), unseen)
