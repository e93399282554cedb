"""Fine-tuning tasks: classification / regression, NER, SQuAD.

Each module reads its data formats (with errors naming the file, line and
column), prepares raw strings for the model in tf.data, fine-tunes a bert_tf
head with `Model.fit`, keeps the best epoch by the task's validation metric,
and evaluates / predicts to JSON lines from a saved model folder.
"""
