"""``policy_kwargs`` for an attention extractor from Python, with what the CLI picks up from the env.

```python
from stable_baselines3 import PPO
from agents import attention_policy_kwargs

model = PPO("MlpPolicy", env, policy_kwargs=attention_policy_kwargs(env, num_layers=0, lean=True))
```

The extractor's parts take the names the env gives them (an adapter's or your env's ``part_names``, or the
feature names of Gymnasium's flat-vector envs), as ``train_rl.py`` does; pass ``part_names=`` to name them
yourself.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from stable_baselines3.common.vec_env import VecEnv

from agents.setup.build import env_part_names
from agents.setup.config import RunConfig
from policies import EXTRACTORS


def attention_policy_kwargs(
    env: gym.Env | VecEnv, extractor: str = "attention", **extractor_kwargs: Any
) -> dict[str, Any]:
    """``policy_kwargs`` for any SB3 algorithm: the extractor class and its kwargs, the env's part names included.

    Args:
        env: the env (or VecEnv) the model will train on; only its spaces and ``part_names`` are read.
        extractor: a registered extractor name (``attention``, ``entity``, ``patch``, ``conv``, ``features``,
            ``time``, ``latent``).
        **extractor_kwargs: the extractor's own arguments (``num_layers=0``, ``presence_column=-1``...).

    Raises:
        ValueError: an unknown extractor name (with the closest one), or ``mlp`` (no extractor to configure: use
            SB3's policy as it is).
    """
    extractor_class = EXTRACTORS.get(extractor)
    if extractor_class is None:
        raise ValueError(
            f"extractor={extractor!r} has no attention extractor to configure: leave policy_kwargs out and SB3 "
            "uses its own MLP or CNN."
        )
    kwargs = dict(extractor_kwargs)
    spec = getattr(env, "spec", None)
    env_id = spec.id if spec is not None else ""
    names = env_part_names(RunConfig(env=env_id, extractor=extractor, extractor_kwargs=kwargs), env)
    if names is not None:
        kwargs["part_names"] = names
    return {"features_extractor_class": extractor_class, "features_extractor_kwargs": kwargs}
