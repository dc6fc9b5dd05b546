"""``lin_<x>`` schedules stop at 0: the update after the budget (SB3 finishes its rollout) must not climb the loss."""

import pickle

import pytest
import torch

import agents
from agents.setup.build import LinearSchedule
from agents.setup.config import RunConfig
from agents.setup.resolution import resolve


@pytest.mark.parametrize(("progress", "value"), [(1.0, 3e-4), (0.5, 1.5e-4), (0.0, 0.0), (-0.0352, 0.0), (-1.0, 0.0)])
def test_linear_schedule_goes_down_to_zero_and_stays_there(progress, value):
    assert LinearSchedule(3e-4)(progress) == pytest.approx(value)


def test_linear_schedule_survives_pickling():
    schedule = pickle.loads(pickle.dumps(LinearSchedule(1e-3)))
    assert schedule(0.25) == pytest.approx(2.5e-4) and repr(schedule) == "lin_0.001"


def test_the_update_past_the_budget_changes_nothing():
    """12 steps with 8-step rollouts: the second rollout ends at 16 steps, past the budget (progress -1/3)."""
    config = resolve(
        RunConfig(
            n_envs=1,
            timesteps=12,
            hyperparams={
                "n_steps": 8,
                "batch_size": 8,
                "n_epochs": 2,
                "learning_rate": "lin_1e-3",
                "clip_range": "lin_0.2",
            },
        )
    )
    model = agents.build_model(config, agents.make_env(config, 1, 0))
    before: list[list[torch.Tensor]] = []

    train = model.train

    def snapshot_then_train() -> None:  # the parameters before each update
        before.append([p.detach().clone() for p in model.policy.parameters()])
        train()

    model.train = snapshot_then_train
    model.learn(12)
    assert model.num_timesteps == 16 and len(before) == 2
    assert model.policy.optimizer.param_groups[0]["lr"] == 0.0
    assert all(torch.equal(a, b) for a, b in zip(before[1], model.policy.parameters(), strict=True))
