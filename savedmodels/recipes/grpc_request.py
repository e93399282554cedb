"""A TF Serving gRPC request to a bert_tf model (raw strings in).

  python grpc_request.py --model=sst --text="a great film" --text="awful"
  python grpc_request.py --model=nli --text_a="A man plays." --text_b="Music."
  python grpc_request.py --model=squad --question="Where does John live?" \\
      --context="John Smith lives in Paris."

Needs `tensorflow` and `tensorflow-serving-api` (the gRPC stubs), not
bert_tf. Prints the outputs as JSON.
"""

import argparse
import json

INPUTS = ("text", "text_a", "text_b", "question", "context")


def build_request(model, inputs, signature="serving_default"):
    """A `PredictRequest`: each input a `tf.string` [batch] tensor."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    for name, texts in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(list(texts), dtype=tf.string))
    return request


def to_json(response):
    """The response's outputs as JSON-ready lists (strings decoded)."""
    import tensorflow as tf

    def decode(x):
        if isinstance(x, list):
            return [decode(v) for v in x]
        return x.decode("utf-8") if isinstance(x, bytes) else x

    return {
        name: decode(tf.make_ndarray(proto).tolist())
        for name, proto in sorted(response.outputs.items())
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="localhost:8500")
    parser.add_argument("--model", required=True)
    parser.add_argument("--signature", default="serving_default")
    parser.add_argument("--timeout", type=float, default=30.0)
    for name in INPUTS:
        parser.add_argument(f"--{name}", action="append", default=None)
    args = parser.parse_args()
    inputs = {n: getattr(args, n) for n in INPUTS if getattr(args, n)}
    if not inputs:
        parser.error(f"give at least one of --{', --'.join(INPUTS)}")

    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(args.host))
    request = build_request(args.model, inputs, args.signature)
    response = stub.Predict(request, timeout=args.timeout)
    print(json.dumps(to_json(response), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
