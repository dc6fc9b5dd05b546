"""What a run is made of, resolved before anything trains.

The config and its preset layers, ``--set`` overrides, the valid ranges, the algorithms registry, env ids, the
vectorised envs, the memory check, and the model built from them.
"""
