"""Recipes: whole jobs built from the library's parts, one function per step.

- `bert_tf.recipes.stdlib_task`: a real classification task and a
  pre-training corpus from the standard library's docstrings (which package
  a docstring belongs to, split by module).
- `bert_tf.recipes.small_bert`: the small BERT pre-trained on that corpus:
  a WordPiece vocabulary learned from it, its config, and pre-training
  (masked LM + next sentence) with the project's pipeline.
- `bert_tf.recipes.quickstart`: the quickstart's other steps on that task:
  the starting point, fine-tuning, held-out metrics beside two baselines, a
  raw-string SavedModel and its predictions, and the run's results.

Each step returns its results (dicts, dataclasses) and prints nothing: the
`bert_tf quickstart` command calls the steps one by one and reports around
them, and `colab/quickstart.ipynb` runs them cell by cell.
"""
