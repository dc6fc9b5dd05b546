"""The run folder on disk.

Its layout (every file name, ``layout``), run folders and atomic writes (``runs``), ``VecNormalize`` arrays,
monitor and progress files, and where commands may write (``outputs``). Nothing here builds a model.
"""
