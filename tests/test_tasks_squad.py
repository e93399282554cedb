"""SQuAD: windowing, answer mapping, decoding and EM/F1 against Model Garden.

References on the same inputs: `official.nlp.data.squad_lib` (features and
`postprocess_output`) and the official evaluation scripts as shipped in
`official.nlp.tools.squad_evaluate_v1_1` / `squad_evaluate_v2_0`.
"""

import collections
import json
import os

import garden_testing
import numpy as np
import pytest
import tasks_testing as tt

from bert_tf.tasks import squad

squad_lib = garden_testing.import_garden("official.nlp.data.squad_lib")
from official.nlp.tools import (  # noqa: E402  (after the skip above)
    squad_evaluate_v1_1,
    squad_evaluate_v2_0,
    tokenization,
)

# Single-spaced contexts whose unknown words stand alone, so squad_lib's
# whitespace-word re-alignment (`get_final_text`) and our offsets agree
# (on "Smith's" its find-first heuristic returns "S" for the piece "s";
# the offsets give "s").
CONTEXTS = [
    "John Smith , the dog (1990) jumped over the lazy fox . The quick brown fox "
    "lives in Paris , the capital of France . John works at Acme Corp in "
    "New York and went to London in 1990 . The dog was born in the city of "
    "London .",
    "A good film is not a bad movie . The great film was very good and the "
    "awful movie was bad . Who did the film ? John did .",
]
QAS = [
    (0, "who lives in paris?", "The quick brown fox", False),
    (0, "where does john work?", "Acme Corp", False),
    (0, "when did john go to london?", "1990", False),
    (0, "where was the dog born?", "the city of London", False),
    (0, "what is the capital of new york?", None, True),
    (1, "what was very good?", "The great film", False),
    (1, "who did the film?", "John", False),
    (1, "what is not a bad movie?", None, True),
]


def _squad_json(with_impossible=True):
    paragraphs = [{"context": c, "qas": []} for c in CONTEXTS]
    for n, (p, question, answer, impossible) in enumerate(QAS):
        if impossible and not with_impossible:
            continue
        answers = []
        if answer:
            start = CONTEXTS[p].index(answer)
            answers = [{"text": answer, "answer_start": start}]
        paragraphs[p]["qas"].append(
            {"id": f"q{n}", "question": question, "answers": answers, "is_impossible": impossible}
        )
    return {"version": "v2.0", "data": [{"title": "t", "paragraphs": paragraphs}]}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("squad"))
    vocab = tt.write_vocab(d)
    paths = {}
    for name, impossible in (("v2", True), ("v1", False)):
        paths[name] = os.path.join(d, f"{name}.json")
        with open(paths[name], "w") as f:
            json.dump(_squad_json(impossible), f)
    return d, vocab, paths


WINDOW = dict(max_seq_length=32, doc_stride=7, max_query_length=9)


def _reference_features(path, vocab, is_training, v2):
    examples = squad_lib.read_squad_examples(path, is_training, v2)
    tokenizer = tokenization.FullTokenizer(vocab, do_lower_case=True)
    features = []

    def output(feature, is_padding=False):
        if not is_padding:
            features.append(feature)

    squad_lib.convert_examples_to_features(
        examples, tokenizer, is_training=is_training, output_fn=output, batch_size=1, **WINDOW
    )
    return examples, features


@pytest.mark.parametrize("is_training", [False, True])
def test_windows_match_squad_lib(files, is_training):
    d, vocab, paths = files
    ref_examples, ref = _reference_features(paths["v2"], vocab, is_training, True)
    examples, _ = squad.read_squad(paths["v2"], is_training=is_training)
    ours = squad.make_features(examples, tt.tokenizer(d), is_training=is_training, **WINDOW)
    assert len(ref) == len(ours) > len(examples)  # Several windows each.
    for f, r in enumerate(ref):
        assert ours.example_index[f] == r.example_index
        np.testing.assert_array_equal(ours.input_word_ids[f], r.input_ids)
        np.testing.assert_array_equal(ours.input_mask[f], r.input_mask)
        np.testing.assert_array_equal(ours.input_type_ids[f], r.segment_ids)
        context = sorted(r.token_to_orig_map)
        np.testing.assert_array_equal(np.flatnonzero(ours.char_starts[f] >= 0), context)
        assert [bool(ours.max_context[f, i]) for i in context] == [
            r.token_is_max_context[i] for i in context
        ]
        if is_training:
            assert (ours.start_positions[f], ours.end_positions[f]) == (
                r.start_position,
                r.end_position,
            )
    if is_training:  # Some windows hold an answer, some point at [CLS].
        assert 0 < np.count_nonzero(ours.start_positions) < len(ours)


class _Result(collections.namedtuple("_Result", "unique_id start_logits end_logits")):
    pass


@pytest.mark.parametrize(
    "v2,threshold,n_best,max_len",
    [
        (False, 0.0, 20, 30),
        (False, 0.0, 3, 2),
        (True, 0.0, 20, 30),
        (True, 1.5, 5, 4),
        (True, -2.0, 20, 30),
    ],
)
def test_decoding_matches_squad_lib(files, v2, threshold, n_best, max_len):
    d, vocab, paths = files
    path = paths["v2" if v2 else "v1"]
    ref_examples, ref = _reference_features(path, vocab, False, v2)
    examples, _ = squad.read_squad(path)
    ours = squad.make_features(examples, tt.tokenizer(d), **WINDOW)
    rng = np.random.default_rng(len(ref) * 7 + n_best)
    start = rng.normal(size=ours.input_word_ids.shape)
    end = rng.normal(size=ours.input_word_ids.shape)
    # Make some windows prefer real spans (so not every answer is null).
    start[::2, 12] += 4.0
    end[::2, 13] += 4.0
    # And every window of some questions prefer [CLS] (the null answer).
    null = ours.example_index % 3 == 1
    start[null, 0] += 6.0
    end[null, 0] += 6.0
    results = [_Result(r.unique_id, list(start[f]), list(end[f])) for f, r in enumerate(ref)]
    want, want_nbest, want_null = squad_lib.postprocess_output(
        ref_examples,
        ref,
        results,
        n_best_size=n_best,
        max_answer_length=max_len,
        do_lower_case=True,
        version_2_with_negative=v2,
        null_score_diff_threshold=threshold,
    )
    got, got_nbest, got_null = squad.decode_answers(
        examples,
        ours,
        start,
        end,
        n_best_size=n_best,
        max_answer_length=max_len,
        version_2_with_negative=v2,
        null_score_diff_threshold=threshold,
    )
    assert got == dict(want)
    assert any(got.values())
    for qid in want_nbest:
        assert [e["text"] for e in got_nbest[qid]] == [e["text"] for e in want_nbest[qid]]
        np.testing.assert_allclose(
            [e["probability"] for e in got_nbest[qid]],
            [e["probability"] for e in want_nbest[qid]],
            rtol=1e-9,
        )
    if v2:
        assert set(got_null) == set(want_null)
        for qid, value in want_null.items():
            assert got_null[qid] == pytest.approx(value)
        assert "" in got.values()


def _prediction_sets(data):
    golds = {
        qa["id"]: [a["text"] for a in qa["answers"]]
        for a in data
        for p in a["paragraphs"]
        for qa in p["qas"]
    }
    ids = sorted(golds)
    exact = {q: (g[0] if g else "") for q, g in golds.items()}
    sloppy = {q: ("the " + g[0].upper() + "!" if g else "France") for q, g in golds.items()}
    partial = {q: ((g[0].split()[-1] + " extra words") if g else "") for q, g in golds.items()}
    missing = {q: exact[q] for q in ids[::2]}
    return [exact, sloppy, partial, missing, {q: "" for q in ids}]


def test_metrics_match_official_v2(files):
    _, _, paths = files
    _, data = squad.read_squad(paths["v2"])
    for predictions in _prediction_sets(data):
        want = squad_evaluate_v2_0.evaluate(data, predictions)
        got = squad.squad_metrics(data, predictions, version_2_with_negative=True)
        for key, value in got.items():
            assert value == pytest.approx(want[key]), key
        assert {"HasAns_f1", "NoAns_f1"} <= set(got)


def test_metrics_match_official_v1(files):
    _, _, paths = files
    _, data = squad.read_squad(paths["v1"])
    for predictions in _prediction_sets(data):
        want = squad_evaluate_v1_1.evaluate(data, predictions)
        got = squad.squad_metrics(data, predictions)
        assert got["exact"] == pytest.approx(100 * want["exact_match"])
        assert got["f1"] == pytest.approx(100 * want["final_f1"])


def test_answer_mapping_uses_character_offsets(tmp_path):
    # Multi-byte characters before the answer: byte offsets must become
    # character offsets.
    vocab = tt.write_vocab(str(tmp_path))
    context = "é é fox jumped over the lazy dog ."
    ex = squad.SquadExample(
        "q", "what jumped?", context, [{"text": "jump", "answer_start": context.index("jump")}]
    )
    features = squad.make_features(
        [ex],
        tt.tokenizer(str(tmp_path)),
        max_seq_length=24,
        doc_stride=8,
        max_query_length=6,
        is_training=True,
    )
    f = 0
    s, e = features.start_positions[f], features.end_positions[f]
    assert s == e > 0
    assert context[features.char_starts[f, s] : features.char_ends[f, e]] == ("jump")
    logits = np.full((1, 24), -10.0)
    start, end = logits.copy(), logits.copy()
    start[0, s], end[0, e] = 5.0, 5.0
    predictions, _, _ = squad.decode_answers([ex], features, start, end)
    assert predictions == {"q": "jump"}
    assert vocab


def _write(tmp_path, obj):
    path = str(tmp_path / "bad.json")
    with open(path, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def test_read_errors_name_file_and_question(tmp_path):
    bad = _squad_json()
    bad["data"][0]["paragraphs"][0]["qas"][1]["answers"][0]["answer_start"] += 1
    path = _write(tmp_path, bad)
    with pytest.raises(ValueError, match=r"bad\.json.*id 'q1'.*does not match"):
        squad.read_squad(path)
    with pytest.raises(ValueError, match=r"bad\.json:2:\d+: malformed JSON"):
        squad.read_squad(_write(tmp_path, '{"data": [\n  {"paragraphs": ]}'))
    no_context = _squad_json()
    del no_context["data"][0]["paragraphs"][1]["context"]
    with pytest.raises(ValueError, match=r"data\[0\]\.paragraphs\[1\]: missing key 'context'"):
        squad.read_squad(_write(tmp_path, no_context))
    with pytest.raises(FileNotFoundError, match="nope.json"):
        squad.read_squad(str(tmp_path / "nope.json"))
    with pytest.raises(ValueError, match="version_2_with_negative is False"):
        squad.read_squad(_write(tmp_path, _squad_json()), version_2_with_negative=False)
