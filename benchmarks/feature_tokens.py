"""Why feature tokens fail on unbounded vectors: one short PPO run per variant, with its diagnostics.

python benchmarks/feature_tokens.py --env Acrobot-v1 --steps 50000 --variant attention --variant mlp
python benchmarks/feature_tokens.py --env Pendulum-v1 --zoo --steps 100000 --variant attention --variant mlp

Each variant trains PPO with the project's default preset (no section of the env's own; with ``--zoo`` rl-zoo's
settings of the row instead, as ``benchmarks/no_preset.py`` gives them to the MLP) and reports: the observation
scale seen in its rollouts, how much of a feature's value survives the tokenizer and the pre-readout LayerNorm
(``value_r2``: R^2 of a linear read-back of x_i from its normalised token), the gradient norm reaching the
tokenizer / encoder / head, the value loss, the readout's focus entropy, for continuous actions the action std
and (gSDE) the norm of the policy latent its noise is drawn from, and the final return (mean of the last 50
training episodes, and 20 greedy evaluation episodes).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from no_preset import run_settings
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy

from agents import RunConfig, build_model, make_env, resolve
from agents.setup.build import set_threads
from agents.setup.vec_envs import wrap_normalize
from policies import attention_report, find_attention_extractor

#: Variant name -> settings layered over the resolved config (``extractor``, ``extractor_kwargs``, ...).
VARIANTS: dict[str, dict[str, Any]] = {
    "mlp": {"extractor": "mlp"},
    "attention": {"extractor": "attention"},
    # FT-Transformer's x_i * w_i on raw values (the earlier tokenizer).
    "linear_raw": {"extractor": "attention", "extractor_kwargs": {"value_embed": "linear", "squash": "none"}},
    "linear_symlog": {"extractor": "attention", "extractor_kwargs": {"value_embed": "linear"}},
    "mlp_raw": {"extractor": "attention", "extractor_kwargs": {"squash": "none"}},
    "vecnorm": {"extractor": "attention", "normalize": {"norm_reward": False}},
    "linear_raw_vecnorm": {
        "extractor": "attention",
        "normalize": {"norm_reward": False},
        "extractor_kwargs": {"value_embed": "linear", "squash": "none"},
    },
    "no_ortho": {"extractor": "attention", "policy_kwargs": {"ortho_init": False}},
    "layers0": {"extractor": "attention", "extractor_kwargs": {"num_layers": 0}},
    "pool_mean": {"extractor": "attention", "extractor_kwargs": {"pooling": "mean"}},
    "lr1e-3": {"extractor": "attention", "hyperparams": {"learning_rate": 1.0e-3}},
    "lr1e-4": {"extractor": "attention", "hyperparams": {"learning_rate": 1.0e-4}},
    "separate": {"extractor": "attention", "policy_kwargs": {"share_features_extractor": False}},
    "linear_raw_separate": {
        "extractor": "attention",
        "policy_kwargs": {"share_features_extractor": False},
        "extractor_kwargs": {"value_embed": "linear", "squash": "none"},
    },
    "norm_reward": {"extractor": "attention", "normalize": {"norm_obs": False}},
    "linear_raw_norm_reward": {
        "extractor": "attention",
        "normalize": {"norm_obs": False},
        "extractor_kwargs": {"value_embed": "linear", "squash": "none"},
    },
    "mlp_norm_reward": {"extractor": "mlp", "normalize": {"norm_obs": False}},
    "raw_reward": {"extractor": "attention", "normalize": False},
    "no_sde": {"extractor": "attention", "hyperparams": {"use_sde": False, "sde_sample_freq": -1}},
    "mlp_no_sde": {"extractor": "mlp", "hyperparams": {"use_sde": False, "sde_sample_freq": -1}},
    "lr3e-4": {"extractor": "attention", "hyperparams": {"learning_rate": 3.0e-4}},
    "lr_lin1e-3": {"extractor": "attention", "hyperparams": {"learning_rate": "lin_1.0e-3"}},
    "lr3e-4_no_sde": {
        "extractor": "attention",
        "hyperparams": {"learning_rate": 3.0e-4, "use_sde": False, "sde_sample_freq": -1},
    },
    "lr1e-4_no_sde": {
        "extractor": "attention",
        "hyperparams": {"learning_rate": 1.0e-4, "use_sde": False, "sde_sample_freq": -1},
    },
    "lr3e-4_separate": {
        "extractor": "attention",
        "hyperparams": {"learning_rate": 3.0e-4},
        "policy_kwargs": {"share_features_extractor": False},
    },
    "lr3e-4_squash": {
        "extractor": "attention",
        "hyperparams": {"learning_rate": 3.0e-4},
        "policy_kwargs": {"squash_output": True},
    },
    "features_norm8": {"extractor": "attention", "extractor_kwargs": {"features_norm": 8.0}},
    "features_norm1": {"extractor": "attention", "extractor_kwargs": {"features_norm": 1.0}},
    "features_norm1_lr3e-4": {
        "extractor": "attention",
        "extractor_kwargs": {"features_norm": 1.0},
        "hyperparams": {"learning_rate": 3.0e-4},
    },
    # Linear + LayerNorm + Tanh output layer: bounded, centred features.
    "layernorm_tanh": {"extractor": "attention", "extractor_kwargs": {"head": "layernorm_tanh"}},
    "relu_heads": {"extractor": "attention", "policy_kwargs": {"activation_fn": "relu"}},
    # gSDE with tanh-squashed actions (SB3's squash_output): the action mean cannot leave the action range.
    "squash": {"extractor": "attention", "policy_kwargs": {"squash_output": True}},
    # PPO's early stop on the approximate KL (SB3's target_kl): bounds how far one update moves the policy.
    "target_kl": {"extractor": "attention", "hyperparams": {"target_kl": 0.02}},
    "target_kl_0.01": {"extractor": "attention", "hyperparams": {"target_kl": 0.01}},
    "mlp_target_kl": {"extractor": "mlp", "hyperparams": {"target_kl": 0.02}},
    "features_norm1_squash": {
        "extractor": "attention",
        "extractor_kwargs": {"features_norm": 1.0},
        "policy_kwargs": {"squash_output": True},
    },
}

GROUPS = ("tokenizer", "blocks", "readout", "head")


def attention_extractor(model: Any) -> Any:
    """The model's attention extractor, or None for SB3's own."""
    try:
        return find_attention_extractor(model)
    except TypeError:
        return None


def grad_norms(model: Any, batch: int = 512) -> dict[str, float]:
    """Gradient norm of PPO's surrogate + value loss on a slice of the last rollout, per extractor part."""
    policy = model.policy
    buffer = model.rollout_buffer
    data = next(buffer.get(batch))
    policy.zero_grad()
    discrete = model.action_space.shape == ()
    actions = data.actions.long().flatten() if discrete else data.actions  # (B,) or (B, A)
    values, log_prob, _ = policy.evaluate_actions(data.observations, actions)
    advantages = (data.advantages - data.advantages.mean()) / (data.advantages.std() + 1e-8)
    value_loss = ((data.returns - values.flatten()) ** 2).mean()
    loss = -(advantages * log_prob).mean() + 0.5 * value_loss
    loss.backward()
    extractor = attention_extractor(model)
    norms: dict[str, float] = {"value_loss": float(value_loss.detach())}
    if extractor is not None:
        for group in GROUPS:
            module = getattr(extractor, group, None)
            grads = [p.grad.norm() ** 2 for p in module.parameters() if p.grad is not None] if module else []
            norms[group] = float(torch.stack(grads).sum().sqrt()) if grads else 0.0
    policy.zero_grad()
    return norms


def value_r2(model: Any, observations: np.ndarray) -> list[float]:
    """Per feature: R^2 of x_i linearly read back from LayerNorm(token_i) (1 = its value survives)."""
    extractor = attention_extractor(model)
    if extractor is None:
        return []
    with torch.no_grad():
        obs = torch.as_tensor(observations, dtype=torch.float32)
        tokens, _ = extractor.tokenizer(obs)  # (B, F, D)
        normed = torch.nn.functional.layer_norm(tokens, tokens.shape[-1:])  # (B, F, D)
    scores = []
    for i in range(obs.shape[1]):
        design = np.c_[normed[:, i].numpy(), np.ones(len(obs))]
        target = obs[:, i].numpy()
        coef, *_ = np.linalg.lstsq(design, target, rcond=None)
        residual = target - design @ coef
        scores.append(float(1 - residual.var() / max(target.var(), 1e-12)))
    return scores


def continuous_action_stats(model: Any, distribution: Any) -> dict[str, float]:
    """Continuous actions: mean action std, mean |action mean|, mean log_std (gSDE: per latent unit)."""
    normal = distribution.distribution
    return {
        "action_std": float(normal.stddev.mean()),
        "action_mean_abs": float(normal.mean.abs().mean()),
        "log_std": float(model.policy.log_std.mean()),
    }


def state_share(values: torch.Tensor) -> float:
    """How much of ``values (B, F)`` tells the observations apart: RMS of the per-unit std over the batch / RMS.

    1 for zero-mean features; near 0 when a part shared by every observation dominates them (the policy then reads
    nearly the same input in every state).
    """
    return float(values.std(dim=0).square().mean().sqrt() / values.square().mean().sqrt().clamp_min(1e-12))


def latent_stats(model: Any, obs: torch.Tensor) -> dict[str, float]:
    """What the policy head reads: the extractor's features and the policy MLP's latent (gSDE's noise source).

    ``features_norm``: mean L2 norm of the features; ``latent_norm`` (and its std over observations, i.e. how
    state-dependent gSDE's noise scale is); ``latent_saturated``: share of tanh units beyond |0.95|.
    """
    policy = model.policy
    features = policy.pi_features_extractor(obs)  # (B, features_dim): the policy's own (shared or not)
    latent_pi = policy.mlp_extractor.forward_actor(features)  # (B, latent_dim)
    norms = latent_pi.norm(dim=-1)  # (B,)
    return {
        "features_norm": float(features.norm(dim=-1).mean()),
        "features_state_share": state_share(features),
        "latent_norm": float(norms.mean()),
        "latent_norm_std": float(norms.std()),
        "latent_saturated": float((latent_pi.abs() > 0.95).float().mean()),
    }


class Diagnostics(BaseCallback):
    """At the end of some rollouts: gradient norms and focus entropy."""

    def __init__(self, every: int = 5) -> None:
        super().__init__()
        self.every, self.rollouts, self.records = every, 0, []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.rollouts += 1
        if self.rollouts % self.every:
            return
        record: dict[str, Any] = {"steps": self.num_timesteps, "grad": grad_norms(self.model)}
        obs = self.model.rollout_buffer.observations.reshape(-1, *self.model.observation_space.shape)[:512]
        with torch.no_grad():
            obs_tensor = torch.as_tensor(obs, dtype=torch.float32)
            distribution = self.model.policy.get_distribution(obs_tensor)
            if isinstance(self.model.action_space, spaces.Box):
                record.update(continuous_action_stats(self.model, distribution))
            else:
                record["action_entropy"] = float(distribution.entropy().mean())
                # How much the action probabilities change from state to state (0: one policy for every state).
                record["action_prob_state_std"] = float(distribution.distribution.probs.std(dim=0).mean())
            record["value_mean"] = float(self.model.policy.predict_values(obs_tensor).mean())
            record.update(latent_stats(self.model, obs_tensor))
            extractor = attention_extractor(self.model)
            if extractor is not None:  # head units that are 0 on every observation of the batch
                record["dead_head"] = float((extractor(obs_tensor).amax(dim=0) <= 0).float().mean())
        if attention_extractor(self.model) is not None:
            report = attention_report(self.model, obs, method="readout")
            record["entropy"] = float(report.entropy.mean())
            record["focus"] = [round(float(v), 3) for v in report.focus.mean(axis=0)]
        self.records.append(record)


def run_variant(
    env_id: str, variant: str, steps: int, seed: int, algo: str, zoo: bool = False, every: int = 5
) -> dict[str, Any]:
    """Train one variant and return its diagnostics (``zoo``: over rl-zoo's settings of the row)."""
    settings = VARIANTS[variant]
    base = run_settings(env_id, settings["extractor"], own=False) if zoo else {}
    normalize = settings.get("normalize", base.get("normalize"))
    config = resolve(
        RunConfig(
            env=env_id,
            algo=algo,
            seed=seed,
            timesteps=steps,
            extractor=settings["extractor"],
            n_envs=base.get("n_envs"),
            normalize=normalize,
            hyperparams={**base.get("hyperparams", {}), **settings.get("hyperparams", {})},
            policy_kwargs=settings.get("policy_kwargs", {}),
            extractor_kwargs=settings.get("extractor_kwargs", {}),
        )
    )
    set_threads(1)
    venv = wrap_normalize(make_env(config, config.n_envs, seed), config)
    model = build_model(config, venv)
    diagnostics = Diagnostics(every)
    start = time.perf_counter()
    model.learn(steps, callback=diagnostics)
    seconds = time.perf_counter() - start
    raw = model.rollout_buffer.observations.reshape(-1, *model.observation_space.shape)
    episodes = [info["r"] for info in model.ep_info_buffer]
    eval_env = wrap_normalize(make_env(config, 1, seed + 1000), config, training=False)
    if hasattr(venv, "obs_rms"):
        eval_env.obs_rms = venv.obs_rms
    greedy, greedy_std = evaluate_policy(model, eval_env, n_eval_episodes=20, deterministic=True)
    return {
        "variant": variant,
        "zoo": zoo,
        "seconds": round(seconds, 1),
        "obs_abs_max": [round(float(v), 2) for v in np.abs(raw).max(axis=0)],
        "obs_std": [round(float(v), 2) for v in raw.std(axis=0)],
        "value_r2": [round(v, 3) for v in value_r2(model, raw[:2048])],
        "train_return_last": round(float(np.mean(episodes)), 1) if episodes else None,
        "greedy_return": round(float(greedy), 1),
        "greedy_std": round(float(greedy_std), 1),
        "diagnostics": diagnostics.records[:: max(1, len(diagnostics.records) // 4)] + diagnostics.records[-1:],
    }


def main() -> None:
    """Parse the arguments and print one JSON line per variant."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Acrobot-v1")
    parser.add_argument("--algo", default="ppo")
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every", type=int, default=5, help="diagnostics every this many rollouts")
    parser.add_argument("--zoo", action="store_true", help="start from rl-zoo's settings of the row")
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), required=True)
    args = parser.parse_args()
    for variant in args.variant:
        print(
            json.dumps(
                {
                    "env": args.env,
                    "seed": args.seed,
                    **run_variant(args.env, variant, args.steps, args.seed, args.algo, args.zoo, args.every),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
