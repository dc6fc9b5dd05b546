"""The memory's causal focus lands on the one step a policy reads, at every memory length the presets use."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from agents.trxl import TrXLPPO
from agents.trxl.focus import memory_focus
from agents.trxl.memory import memory_part_names


class ReadsStepK(nn.Module):
    """A hand-built memory: the policy's latent is the hidden state cached ``k`` slots into the window, nothing else."""

    def __init__(self, k: int, embed_dim: int, memory_length: int | None = None) -> None:
        super().__init__()
        self.k, self.embed_dim, self.memory_length, self.num_layers = k, embed_dim, memory_length, 2

    @property
    def part_names(self) -> list[str]:
        """``t-M .. t-0``, as ``EpisodeMemory`` names its parts."""
        return memory_part_names(self.memory_length)

    def forward(self, tokens: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor) -> tuple:
        latent = memory[:, self.k, -1] * memory_mask[:, self.k, None]  # (B, D): zero once slot k is masked out
        return latent, memory[:, 0]


def decisive(policy: nn.Module) -> None:
    """Action weights of order 1 (SB3 starts them at 0.01): the action then clearly depends on what the policy reads,
    so a causal effect is never lost in rounding, whatever the random initialisation."""
    with torch.no_grad():
        policy.action_net.weight.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("memory_length", [16, 64, 128])
def test_causal_focus_puts_the_mass_on_the_step_the_policy_reads(memory_length: int) -> None:
    kwargs = {"memory_length": memory_length, "memory_dim": 16, "memory_heads": 2, "memory_layers": 2}
    model = TrXLPPO("MlpTrXLPolicy", "CartPole-v1", n_steps=16, batch_size=16, device="cpu", policy_kwargs=kwargs)
    policy, k, batch = model.policy, memory_length // 3, 4
    policy.memory = ReadsStepK(k, 16)
    decisive(policy)
    generator = torch.Generator().manual_seed(0)
    memory = torch.randn(batch, memory_length, 2, 16, generator=generator)  # (B, M, L, D)
    mask = torch.ones(batch, memory_length, dtype=torch.bool)
    obs = torch.zeros(batch, 4)

    focus = memory_focus(policy, obs, memory, mask, ["causal"])["causal"]  # (B, M + 1)

    assert focus.shape == (batch, memory_length + 1)
    assert (focus[:, k] >= 0.99).all(), focus[:, k]


def test_the_step_the_env_names_gets_the_causal_mass_through_the_recorder() -> None:
    """One observation a memory slot (CueMemory with ``window=1``): ``info["relevant_ages"]`` names the slot read."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers attn/ ids)
    from agents.evaluation.focus_stats import summarize_memory_focus
    from agents.trxl.focus import MemoryFocusRecorder

    memory_length, age = 32, 21
    kwargs = {"memory_length": memory_length, "memory_dim": 16, "memory_heads": 2, "memory_layers": 2}
    env = gym.make("attn/CueMemory-v0", difficulty=4, window=1)
    model = TrXLPPO("MlpTrXLPolicy", env, n_steps=16, batch_size=16, device="cpu", policy_kwargs=kwargs)
    policy = model.policy
    policy.memory = ReadsStepK(
        memory_length - age, 16, memory_length
    )  # slot M - age holds the step seen `age` steps ago
    decisive(policy)
    recorder = MemoryFocusRecorder(policy, ["causal"])
    generator = torch.Generator().manual_seed(1)
    obs, info = env.reset(seed=0)
    for _ in range(8):
        memory = torch.randn(1, memory_length, 2, 16, generator=generator).numpy()  # (1, M, L, D)
        recorder.record(obs, (memory, np.array([memory_length])), {**info, "relevant_ages": np.array([age])})

    summary = summarize_memory_focus(recorder)

    assert obs.shape == (1, env.observation_space.shape[1])  # one row: this step's observation alone
    assert summary["methods"]["causal"]["relevant_mass"] >= 0.99
    assert summary["methods"]["causal"]["relevant_effect"] >= 0.99


class ReadsStepKOfItsOwnSteps(ReadsStepK):
    """``ReadsStepK`` whose memory caches each step's own token (a fixed projection), as a trained memory does."""

    def __init__(self, k: int, embed_dim: int, memory_length: int, features_dim: int) -> None:
        super().__init__(k, embed_dim, memory_length)
        self.project = nn.Linear(features_dim, embed_dim)

    def forward(self, tokens: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor) -> tuple:
        latent = memory[:, self.k, -1] * memory_mask[:, self.k, None]  # (B, D)
        hidden = self.project(tokens)[:, None].expand(-1, self.num_layers, -1)  # (B, L, D)
        return latent, hidden.detach()


def test_the_eval_video_draws_the_focus_over_time_with_the_memory_carried(tmp_path) -> None:
    """A policy that reads only the step ``age`` steps back: each frame's timeline puts the causal mass there."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers attn/ ids)
    from agents.pictures.eval_video import record_video
    from agents.pictures.memory_video import MemoryFrames

    memory_length, age = 16, 5
    kwargs = {"memory_length": memory_length, "memory_dim": 16, "memory_heads": 2, "memory_layers": 2}
    env_kwargs = {"difficulty": 4, "window": 1}
    model = TrXLPPO("MlpTrXLPolicy", gym.make("attn/CueMemory-v0", **env_kwargs), n_steps=16, batch_size=16,
                    device="cpu", policy_kwargs=kwargs)  # fmt: skip
    features = model.policy.features_dim
    model.policy.memory = ReadsStepKOfItsOwnSteps(memory_length - age, 16, memory_length, features)
    decisive(model.policy)
    with torch.no_grad():  # PPO's 0.01-gain action head moves its logits by ~1e-7: too little for float32 to tell
        model.policy.action_net.weight.mul_(100.0)

    frames = MemoryFrames(gym.make("attn/CueMemory-v0", render_mode="rgb_array", **env_kwargs), model)
    obs, _ = frames.reset(seed=0)
    state, start, focus = None, np.ones(1, dtype=bool), []
    for _ in range(age + 3):
        action, state = model.predict(obs, state, start, deterministic=True)
        frames.state, start = state, np.zeros(1, dtype=bool)
        obs, *_ = frames.step(action)
        focus.append(frames.focus()[0])
        picture = frames.render()
    assert picture.ndim == 3 and picture.shape[-1] == 3
    assert all(f[memory_length - age] >= 0.99 for f in focus[age:])  # once the read step is in memory
    assert all(f[memory_length - age] == 0 for f in focus[: age - 1])  # before it: a slot of no step, exactly 0

    result = record_video(model, "attn/CueMemory-v0", tmp_path / "eval.gif", env_kwargs, episodes=1)
    assert result.path.is_file() and result.frames > 20  # delays of 20-100 steps
