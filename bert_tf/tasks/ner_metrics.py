"""Entity-level NER metrics, equal to seqeval's default (conlleval) mode."""

from collections.abc import Sequence


def get_entities(tags: Sequence[str]) -> list:
    """Chunks `(type, first, last)` of one tag sequence, by conlleval's rules.

    The same as `seqeval.metrics.sequence_labeling.get_entities` for IOB
    tags: a chunk starts at `B-X`, at `I-X` after `O`, or on a type change.
    """
    chunks = []
    prev_tag, prev_type, begin = "O", "", 0
    for i, tag in enumerate(list(tags) + ["O"]):
        kind = tag[0]
        type_ = tag[1:].split("-", maxsplit=1)[-1] or "_"
        ends = (prev_tag in ("B", "I") and kind in ("B", "O")) or (
            prev_tag not in ("O", ".") and prev_type != type_
        )
        if ends:
            chunks.append((prev_type, begin, i - 1))
        starts = (
            kind == "B"
            or (prev_tag == "O" and kind == "I")
            or (kind not in ("O", ".") and prev_type != type_)
        )
        if starts:
            begin = i
        prev_tag, prev_type = kind, type_
    return chunks


def entity_metrics(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict:
    """Entity-level micro precision / recall / F1 (seqeval's default mode).

    Also per-type `{"precision", "recall", "f1", "support"}` under `types`.

    >>> m = entity_metrics([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])
    >>> m["f1"]
    1.0
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold vs {len(predicted)} predicted sentences")
    true, pred = set(), set()
    for i, (g, p) in enumerate(zip(gold, predicted)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold vs {len(p)} predicted tags")
        true.update((i,) + e for e in get_entities(g))
        pred.update((i,) + e for e in get_entities(p))

    def prf(t, p):
        correct = len(t & p)
        precision = correct / len(p) if p else 0.0
        recall = correct / len(t) if t else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "support": len(t)}

    result = prf(true, pred)
    types = sorted({e[1] for e in true | pred})
    result["types"] = {
        k: prf({e for e in true if e[1] == k}, {e for e in pred if e[1] == k}) for k in types
    }
    return result
