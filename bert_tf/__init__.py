"""bert_tf: BERT for Keras 3 and TensorFlow, tokenization in the graph.

One model definition serves `Model.fit` on raw strings, a SavedModel that takes
raw strings in TF Serving, and a TFLite file that takes raw strings in LiteRT.
"""

__version__ = "0.1.0"
