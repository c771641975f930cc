"""Datasets, training, fine-tuning and ONNX export: the only home of torch.

torch is imported inside functions, and training runs in a child process (the job runner's
process mode or the ``genstudio ml`` command), never in the studio's own process.
"""
