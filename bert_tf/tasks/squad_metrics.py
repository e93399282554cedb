"""SQuAD v1.1 / v2.0 metrics, equal to the official evaluation scripts'."""

import collections
import re
import string


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and articles, squeeze whitespace."""
    text = "".join(c for c in text.lower() if c not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


_PUNCTUATION = frozenset(string.punctuation)


def _f1(gold: str, pred: str, empty_matches: bool) -> float:
    gold_tokens = normalize_answer(gold).split()
    pred_tokens = normalize_answer(pred).split()
    if empty_matches and (not gold_tokens or not pred_tokens):
        return float(gold_tokens == pred_tokens)
    same = sum((collections.Counter(gold_tokens) & collections.Counter(pred_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_metrics(data: list, predictions: dict, version_2_with_negative: bool = False) -> dict:
    """Exact match and F1 (in %) as the official evaluation scripts.

    v1.1: every question counts (a missing prediction scores 0); v2.0: the
    questions with a prediction, an unanswerable question's only gold answer
    is "", and `HasAns_*` / `NoAns_*` break the scores down.

    Args:
        data: the SQuAD file's `data` list.
        predictions: `{qas_id: answer text}`.
        version_2_with_negative: use the v2.0 rules.

    Returns:
        `{"exact", "f1", "total"}` (+ `HasAns_*`, `NoAns_*` for v2.0).
    """
    exact, f1, has_answer = {}, {}, {}
    for article in data:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                qid = qa["id"]
                golds = [a["text"] for a in qa["answers"]]
                if version_2_with_negative:
                    if qid not in predictions:
                        continue
                    has_answer[qid] = bool(qa["answers"])
                    golds = [g for g in golds if normalize_answer(g)] or [""]
                elif qid not in predictions:
                    exact[qid] = f1[qid] = 0.0
                    continue
                pred = predictions[qid]
                exact[qid] = max(
                    float(normalize_answer(g) == normalize_answer(pred)) for g in golds
                )
                f1[qid] = max(_f1(g, pred, version_2_with_negative) for g in golds)

    def summary(ids):
        n = len(ids)
        return {
            "exact": 100.0 * sum(exact[i] for i in ids) / n if n else 0.0,
            "f1": 100.0 * sum(f1[i] for i in ids) / n if n else 0.0,
            "total": n,
        }

    result = summary(list(exact))
    if version_2_with_negative:
        for prefix, flag in (("HasAns", True), ("NoAns", False)):
            ids = [q for q, h in has_answer.items() if h == flag]
            if ids:
                result.update({f"{prefix}_{k}": v for k, v in summary(ids).items()})
    return result
