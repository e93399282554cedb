#!/bin/sh
# One REST request per task: rest_requests.sh [model ...] (default: all).
# Strings travel as plain JSON strings; "instances" (row format) is answered
# with "predictions", "inputs" (columnar) with "outputs".
set -u
host="${TF_SERVING_REST:-localhost:8501}"
ask() { echo "== $1"; curl -s -d "$2" "$host/v1/models/$1:predict"; echo; }
models="$*"
[ -n "$models" ] || models="sst nli ner squad embed fill_mask"
for m in $models; do
    case "$m" in
      nli) ask "$m" '{"instances": [{"text_a": "A man plays a guitar.", "text_b": "Someone plays music."}]}' ;;
      squad) ask "$m" '{"inputs": {"question": ["Where does John live?"], "context": ["John Smith lives in Paris, the capital of France."]}}' ;;
      fill_mask) ask "$m" '{"instances": ["Paris is the [MASK] of France."]}' ;;
      ner) ask "$m" '{"instances": ["John Smith lives in Paris."]}' ;;
      *) ask "$m" '{"instances": ["a great film", "an awful movie"]}' ;;
    esac
done
