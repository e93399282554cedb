"""TF Serving's path, for tests: a fresh process, the TF1 loader, Session.run.

`run_tf1_fresh(jobs)` starts one Python process that imports only
`tensorflow` and `tensorflow_text` (which registers TF-Text's ops, as the
stock `tensorflow_model_server` links them), loads each SavedModel with
`tf.compat.v1.saved_model.loader.load` — the C++ loader TF Serving uses — and
answers each request with `Session.run` on the signature's tensor names.
With `threads`, it also answers all requests from that many threads at once
on the same session (TF Serving shares one session across requests).

`parse_warmup_file(export_dir)` reads `assets.extra/tf_serving_warmup_requests`
with TF Serving's own `PredictionLog` proto.
"""

import json
import os
import subprocess
import sys
import textwrap

import tensorflow as tf

FRESH_PROCESS = textwrap.dedent("""
    import json, sys, threading
    import tensorflow as tf
    import tensorflow_text  # Registers TF-Text's ops, as TF Serving links them.

    def decode(x):
        return [decode(v) for v in x] if isinstance(x, list) else x.decode()

    def to_json(value):
        return decode(value.tolist()) if value.dtype == object else value.tolist()

    jobs = json.load(open(sys.argv[1]))
    results = []
    for job in jobs:
        graph = tf.compat.v1.Graph()
        with graph.as_default():
            sess = tf.compat.v1.Session(graph=graph)
            meta = tf.compat.v1.saved_model.loader.load(
                sess, ["serve"], job["export_dir"])
        def run(request):
            signature = meta.signature_def[request["signature"]]
            fetches = {k: v.name for k, v in signature.outputs.items()}
            feeds = {signature.inputs[k].name: v
                     for k, v in request["inputs"].items()}
            return {k: to_json(v) for k, v in sess.run(fetches, feeds).items()}
        out = {"signatures": sorted(meta.signature_def),
               "inputs": {k: sorted(v.inputs)
                          for k, v in meta.signature_def.items()},
               "sequential": [run(r) for r in job["requests"]]}
        threads = job.get("threads") or 0
        if threads:
            barrier = threading.Barrier(threads)
            per_thread = [None] * threads
            errors = []
            def work(i):
                try:
                    barrier.wait()
                    # Each thread walks the requests from another start.
                    order = [(i + j) % len(job["requests"])
                             for j in range(len(job["requests"]))]
                    got = {}
                    for _ in range(job.get("rounds", 1)):
                        for j in order:
                            got[j] = run(job["requests"][j])
                    per_thread[i] = [got[j] for j in range(len(order))]
                except Exception as e:  # Reported to the parent.
                    errors.append(repr(e))
            pool = [threading.Thread(target=work, args=(i,))
                    for i in range(threads)]
            for t in pool:
                t.start()
            for t in pool:
                t.join()
            out["threads"] = per_thread
            out["thread_errors"] = errors
        sess.close()
        results.append(out)
    modules = sorted(m for m in sys.modules
                     if m.split(".")[0] in ("bert_tf", "keras_hub",
                                            "tensorflow_serving"))
    print(json.dumps({"results": results, "modules": modules}))
""")


def run_tf1_fresh(jobs, workdir, timeout=300):
    """Runs SavedModels through the TF1 loader in a fresh process.

    Args:
      jobs: a list of `{"export_dir": ..., "requests": [{"signature": ...,
        "inputs": {name: list of str}}], "threads": 0 or N, "rounds": R}`.
      workdir: a folder for the jobs file.
      timeout: seconds.

    Returns:
      `{"results": [per job: {"signatures", "inputs", "sequential": [per
      request: {output: nested lists}], "threads": [per thread: same as
      sequential], "thread_errors"}], "modules": [bert_tf, keras_hub, tensorflow_serving modules
      the process imported]}` (TensorFlow itself may import keras).
    """
    path = os.path.join(workdir, "tf1_jobs.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(jobs, f)
    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, path],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def parse_warmup_file(export_dir):
    """The warm-up requests, parsed with TF Serving's `PredictionLog` proto.

    Returns:
      A list of `{"model": name, "signature": name, "inputs": {name: list of
      str}}`.
    """
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(export_dir, "assets.extra", "tf_serving_warmup_requests")
    requests = []
    for record in tf.compat.v1.io.tf_record_iterator(path):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record)
        assert log.WhichOneof("log_type") == "predict_log"
        request = log.predict_log.request
        inputs = {}
        for name, proto in request.inputs.items():
            assert proto.dtype == tf.string.as_datatype_enum, name
            assert len(proto.tensor_shape.dim) == 1, name
            inputs[name] = [v.decode("utf-8") for v in proto.string_val]
        requests.append(
            {
                "model": request.model_spec.name,
                "signature": request.model_spec.signature_name,
                "inputs": inputs,
            }
        )
    return requests
