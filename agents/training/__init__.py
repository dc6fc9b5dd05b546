"""Training a run.

``train`` and ``resume``, the callbacks that log where the policy looks, the probe batch, the hyperparameters in
tensorboard, the final evaluation, and the local grid runner of the benchmarks.
"""
