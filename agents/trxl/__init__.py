"""``ppo_trxl``: PPO with a Transformer-XL-style memory that attends over the whole episode.

- ``agents.trxl.memory``: ``EpisodeMemory``, the causal transformer over the cached hidden states of the episode's
  last ``memory_length`` steps (episode boundaries masked), and its window helpers;
- ``agents.trxl.policy``: ``TrXLPolicy``, features extractor (one token per step) -> memory -> heads, and
  ``predict`` that carries each env's memory through its episode;
- ``agents.trxl.buffer``: rollout buffers that keep memory as indices into the rollout's hidden states;
- ``agents.trxl.ppo``: ``TrXLPPO``, PPO's training loop with memory-carrying rollouts.
"""

from agents.trxl.memory import EpisodeMemory, memory_part_names, window_mask
from agents.trxl.policy import CnnTrXLPolicy, MemoryBatch, MultiInputTrXLPolicy, TrXLPolicy
from agents.trxl.ppo import TrXLPPO

__all__ = [
    "CnnTrXLPolicy", "EpisodeMemory", "MemoryBatch", "MultiInputTrXLPolicy", "TrXLPPO", "TrXLPolicy",
    "memory_part_names", "window_mask",
]  # fmt: skip
