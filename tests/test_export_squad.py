"""SQuAD export: windowing and decoding in the graph equal the Python decoding.

Reference: `bert_tf.tasks.squad` on the same model (`make_features` →
`predict_logits` on the Keras model → `decode_answers`), with many short
windows per context so that windows compete, and a model whose logits are
rounded so that ties decide.
"""

import os

import keras
import numpy as np
import pytest
import serving_test_base as stb
import tasks_testing as tt
import tensorflow as tf
import tensorflow_text  # noqa: F401  Registers TF-Text's ops for loading.

from bert_tf.export import squad_serving, tflite
from bert_tf.heads import BertSpanLabeler
from bert_tf.tasks import common, squad
from bert_tf.text import BertTokenizer

S, STRIDE, MAX_QUERY = 24, 5, 6
DECODE = dict(n_best_size=6, max_answer_length=4)
OUTPUTS = [
    "answer_end",
    "answer_start",
    "answer_text",
    "null_score_diff",
    "num_windows",
    "score",
]

_WORDS = [w for w in tt.WORDS if not w.startswith("##")]
# Words outside the vocabulary, several non-ASCII: offsets in code points.
_ODD = ["Café", "naïve", "日本", "Straße", "😀x", "Ωmega", "smith's", "x̃y"]


def _text(rng, n):
    pool = _WORDS + _ODD
    return " ".join(pool[i] for i in rng.integers(0, len(pool), n))


def _examples():
    rng = np.random.default_rng(7)
    questions = [_text(rng, int(rng.integers(2, 9))) + "?" for _ in range(7)]
    contexts = [_text(rng, n) for n in (12, 40, 90, 30, 8, 60, 25)]
    # Ten times longer than a window's length.
    contexts[2] = _text(rng, 10 * S)
    return questions, contexts


def _rounded(model):
    """The model with logits rounded to a coarse grid: many exact ties."""
    inputs = {
        k: keras.Input([None], dtype="int32", name=k)
        for k in ("input_word_ids", "input_mask", "input_type_ids")
    }
    out = model(inputs)
    grid = keras.layers.Lambda(lambda x: keras.ops.round(x * 25.0) / 4.0)
    return keras.Model(
        inputs,
        {
            "start_logits": grid(out["start_logits"]),
            "end_logits": grid(out["end_logits"]),
        },
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("squad_export"))
    keras.utils.set_random_seed(3)
    tokenizer = tt.tokenizer(d)
    model = BertSpanLabeler(tt.tiny_encoder(max_positions=S))
    return dict(dir=d, tokenizer=tokenizer, model=model, tied=_rounded(model))


def _python(setup, model, questions, contexts, **options):
    """The Python pipeline's answers, plus each answer's character span."""
    examples = [
        squad.SquadExample(str(i), q, c, []) for i, (q, c) in enumerate(zip(questions, contexts))
    ]
    features = squad.make_features(examples, setup["tokenizer"], S, STRIDE, MAX_QUERY)
    start, end = squad.predict_logits(model, features)
    predictions, nbest, null_odds = squad.decode_answers(examples, features, start, end, **options)
    spans = _best_spans(
        features,
        start,
        end,
        len(examples),
        options["n_best_size"],
        options["max_answer_length"],
    )
    return examples, predictions, nbest, null_odds, spans


def _best_spans(features, start, end, num_examples, n_best, max_length):
    """Character span of the best valid span per example, by brute force.

    Independent of the graph: every window's n-best starts x ends in the
    order the Python decoding lists them, scored in float64; the first best
    one wins.
    """
    best = {}
    for f, e in enumerate(features.example_index):
        s, t = start[f].astype(np.float64), end[f].astype(np.float64)
        starts = np.argsort(-s, kind="stable")[:n_best]
        ends = np.argsort(-t, kind="stable")[:n_best]
        inside = features.char_starts[f] >= 0
        for i in starts:
            if not inside[i] or not features.max_context[f, i]:
                continue
            for j in ends:
                if inside[j] and i <= j < i + max_length:
                    score = s[i] + t[j]
                    if e not in best or score > best[e][0]:
                        best[e] = (
                            score,
                            features.char_starts[f, i],
                            features.char_ends[f, j],
                        )
    return [best.get(e) for e in range(num_examples)]


def _check(got, python, contexts, v2, threshold=0.0):
    examples, predictions, nbest, null_odds, spans = python
    got = {k: np.asarray(v) for k, v in got.items()}
    assert got["answer_text"].shape == (len(examples),)
    for b, example in enumerate(examples):
        text = got["answer_text"][b].decode("utf-8")
        want = predictions[example.qas_id]
        top = nbest[example.qas_id][0]
        if want == "empty" and top["start_logit"] == top["end_logit"] == 0:
            want = ""  # v1.1's placeholder when no span is valid.
        assert text == want, (b, text, want)
        start, end = got["answer_start"][b], got["answer_end"][b]
        if want:
            assert contexts[b][start:end] == text
            assert (start, end) == tuple(spans[b][1:]), b
            entry = next(x for x in nbest[example.qas_id] if x["text"] == want)
            np.testing.assert_allclose(
                got["score"][b],
                entry["start_logit"] + entry["end_logit"],
                rtol=1e-6,
                atol=1e-6,
            )
        else:
            assert (start, end) == (-1, -1)
        if v2:
            np.testing.assert_allclose(
                got["null_score_diff"][b],
                null_odds[example.qas_id],
                rtol=1e-6,
                atol=1e-5,
            )
    assert predictions, "no questions"


@pytest.fixture(scope="module")
def saved_v2(setup):
    """A v2.0 SavedModel whose threshold splits the questions' decisions."""
    questions, contexts = _examples()
    options = dict(DECODE, version_2_with_negative=True)
    python = _python(setup, setup["model"], questions, contexts, **options)
    odds = sorted(python[3].values())
    threshold = float((odds[2] + odds[3]) / 2)
    options["null_score_diff_threshold"] = threshold
    # The source vocabulary is gone before the SavedModel is loaded.
    path = os.path.join(setup["dir"], "v2")

    def save(module):
        tf.saved_model.save(module, path, signatures=module.signatures())
        return path

    loaded, _, source, module = stb.export_without_source(
        setup["dir"],
        tt.VOCAB,
        lambda vocab: squad_serving.SpanLabelerServing(
            setup["model"], BertTokenizer(vocab, lower_case=True), S, STRIDE, MAX_QUERY, **options
        ),
        save,
    )
    return loaded, module, options, threshold, path, source


def test_v2_savedmodel_matches_python(setup, saved_v2):
    loaded, _, options, threshold, path, source = saved_v2
    stb.check_signatures(
        loaded,
        {
            "serving_default": ["context", "question"],
            "preprocess": ["text"],
            "token_ids": stb.PACKED_INPUTS,
        },
        exact=True,
    )
    stb.check_no_path_leak(path, source)
    questions, contexts = _examples()
    python = _python(setup, setup["model"], questions, contexts, **options)
    got = loaded.signatures["serving_default"](
        question=tf.constant(questions), context=tf.constant(contexts)
    )
    _check(got, python, contexts, v2=True)
    answered = got["answer_start"].numpy() >= 0
    assert 0 < answered.sum() < len(questions), "threshold should split"
    windows = got["num_windows"].numpy()
    assert windows.max() >= 40 and windows[2] == windows.max()
    assert windows.tolist() == [
        int(
            np.sum(
                squad.make_features(
                    [squad.SquadExample("q", q, c, [])],
                    setup["tokenizer"],
                    S,
                    STRIDE,
                    MAX_QUERY,
                ).example_index
                == 0
            )
        )
        for q, c in zip(questions, contexts)
    ]


def test_ties_match_python(setup):
    questions, contexts = _examples()
    python = _python(setup, setup["tied"], questions, contexts, **DECODE)
    start, _ = squad.predict_logits(
        setup["tied"],
        squad.make_features(python[0], setup["tokenizer"], S, STRIDE, MAX_QUERY),
    )
    assert len(np.unique(start)) < start.size / 20, "logits should tie"
    module = squad_serving.SpanLabelerServing(
        setup["tied"], setup["tokenizer"], S, STRIDE, MAX_QUERY, **DECODE
    )
    got = module.serve(tf.constant(questions), tf.constant(contexts))
    _check(got, python, contexts, v2=False)


def test_v1_savedmodel_and_edge_inputs(setup):
    questions, contexts = _examples()
    questions += ["", "who?", "", "where  ?"]
    contexts += ["john smith lives in paris .", "", "   \t ", "日本 café"]
    options = dict(DECODE, n_best_size=30, max_answer_length=5)
    module = squad_serving.SpanLabelerServing(
        setup["model"], setup["tokenizer"], S, STRIDE, MAX_QUERY, **options
    )
    serve = module.serve.get_concrete_function()  # as the SavedModel's
    got = serve(question=tf.constant(questions), context=tf.constant(contexts))
    got = {k: v.numpy() for k, v in got.items()}
    # Contexts without pieces have no windows (and make_features fails on
    # them): no answer, score 0, as decode_answers' windowless fallback.
    blank = [8, 9]
    assert got["num_windows"][blank].tolist() == [0, 0]
    assert got["answer_text"][blank].tolist() == [b"", b""]
    assert got["answer_start"][blank].tolist() == [-1, -1]
    assert got["answer_end"][blank].tolist() == [-1, -1]
    assert got["score"][blank].tolist() == [0.0, 0.0]
    rows = [r for r in range(len(contexts)) if r not in blank]
    python = _python(
        setup,
        setup["model"],
        [questions[r] for r in rows],
        [contexts[r] for r in rows],
        **options,
    )
    _check(
        {k: v[rows] for k, v in got.items()},
        python,
        [contexts[r] for r in rows],
        v2=False,
    )
    assert got["num_windows"][-1] == 1

    batches = stb.check_batches(
        serve,
        lambda n: dict(
            question=tf.constant(questions[:n], tf.string),
            context=tf.constant(contexts[:n], tf.string),
        ),
    )
    assert {k: list(v.shape) for k, v in batches[0].items()} == {k: [0] for k in OUTPUTS}

    stb.check_unequal_batches(
        serve,
        dict(question=tf.constant(["a?", "b?"]), context=tf.constant(["a"])),
        "question and context",
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="context is not valid UTF-8"):
        serve(
            question=tf.constant(["a?", "b?"]),
            context=tf.constant([b"fine", b"bad \xff\xc3 bytes"]),
        )


def test_from_task_reads_task_json(setup):
    d = os.path.join(setup["dir"], "model")
    info = {
        "task": "squad",
        "do_lower_case": True,
        "max_seq_length": S,
        "doc_stride": STRIDE,
        "max_query_length": MAX_QUERY,
        "n_best_size": 3,
        "max_answer_length": 7,
        "version_2_with_negative": True,
        "null_score_diff_threshold": -1.5,
    }
    common.save_task(d, setup["model"], os.path.join(setup["dir"], "vocab.txt"), info)
    module = squad_serving.SpanLabelerServing.from_task(common.load_task(d))
    assert (
        module.seq_length,
        module.doc_stride,
        module.max_query_length,
        module.n_best_size,
        module.max_answer_length,
        module.version_2_with_negative,
        module.null_score_diff_threshold,
    ) == (S, STRIDE, MAX_QUERY, 3, 7, True, -1.5)
    with pytest.raises(ValueError, match="max_query_length=30"):
        squad_serving.SpanLabelerServing(
            setup["model"],
            setup["tokenizer"],
            max_seq_length=S,
            max_query_length=30,
        )


def test_tflite_equals_savedmodel(saved_v2):
    loaded, module, *_ = saved_v2
    questions, contexts = _examples()
    questions += ["", "who?"]
    contexts += ["", " "]
    interpreter = stb.check_tflite(
        module,
        [
            {
                "question": [questions[r] for r in rows],
                "context": [contexts[r] for r in rows],
            }
            for rows in ([2], [0, 3, 5], [1, 4, 6], [7, 0, 8], [7], [])
        ],
        reference=lambda inputs: loaded.signatures["serving_default"](
            **{k: tf.constant(v, tf.string) for k, v in inputs.items()}
        ),
        model=tflite.convert_module(module, module.tflite_signatures()),
    )
    assert interpreter.get_signature_list()["serving_default"] == {
        "inputs": ["context", "question"],
        "outputs": OUTPUTS,
    }
