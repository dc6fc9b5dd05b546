"""Training a run.

``train`` and ``resume``, checkpoints, the callbacks that log where the policy looks (the memory's too, for
``ppo_trxl``), the hyperparameters in tensorboard, the final evaluation, and the local grid runner of the
benchmarks.
"""
