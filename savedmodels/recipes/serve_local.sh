#!/bin/sh
# Serves every model of savedmodels/ with a tensorflow_model_server binary on
# this machine: models.config is rewritten with this machine's paths first.
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"   # the savedmodels folder
python -c "import sys; from bert_tf.export import serving; \
serving.write_models_config(sys.argv[1], serving_base_path=None)" "$root"
exec tensorflow_model_server --port=8500 --rest_api_port=8501 \
  --model_config_file="$root/models.config" \
  --model_config_file_poll_wait_seconds=60
