#!/bin/sh
# Serves every model of savedmodels/ with the stock TF Serving image.
# REST on 8501, gRPC on 8500; models.config is re-read every 60 s, so models
# exported later are picked up (new versions are picked up in any case).
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"   # the savedmodels folder
exec docker run --rm -p 8500:8500 -p 8501:8501 \
  -v "$root:/models" "tensorflow/serving:${TF_SERVING_VERSION:-2.20.0}" \
  --model_config_file=/models/models.config \
  --model_config_file_poll_wait_seconds=60
