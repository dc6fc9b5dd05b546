"""The run folder on disk.

Its layout, atomic writes, checkpoints, ``VecNormalize`` arrays, monitor files, where commands may write, and
loading a run safely.
"""
