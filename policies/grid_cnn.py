"""``GridCNN``: a small CNN over a grid of float features (highway-env's ``OccupancyGrid``), no attention.

The convolutional baseline of Social Attention (Leurent & Mercat 2019; rl-agents' ``ConvolutionalNetwork``):
three convolutions of kernel 2 and stride 2 (16, 32 and 64 channels, ReLU), each halving the grid, then one
ReLU layer of ``features_dim`` units (rl-agents' ``head_mlp`` of 20). SB3's ``NatureCNN`` takes images (uint8
pixels, at least 36 x 36 for its 8 x 8 stride-4 first layer); an occupancy grid is a ``Box(C, H, W)`` of floats
in ``[-1, 1]`` (a 32 x 32 grid of 2 m cells for the paper's intersection), which this reads as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from envs.validation import check_int


class GridCNN(BaseFeaturesExtractor):
    """Convolutions of kernel and stride ``kernel_size`` over a ``Box(C, H, W)`` grid, then a ReLU layer.

    Args:
        observation_space: a ``Box(C, H, W)`` (channels first, as highway-env's ``OccupancyGrid`` gives it).
        channels: output channels of each convolution (rl-agents': 16, 32, 64).
        kernel_size: kernel and stride of every convolution (2: each one halves the grid).
        features_dim: units of the ReLU layer after the convolutions (rl-agents' head: 20).

    Raises:
        TypeError: the observation space is not a 3-dimensional ``Box``.
        ValueError: the grid is too small for the convolutions, or a bad ``channels``, ``kernel_size`` or
            ``features_dim``.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        channels: Sequence[int] = (16, 32, 64),
        kernel_size: int = 2,
        features_dim: int = 20,
    ) -> None:
        if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 3:
            raise TypeError(
                f"GridCNN reads a Box(C, H, W) grid, got a {type(observation_space).__name__} of shape "
                f"{getattr(observation_space, 'shape', None)}: give a highway-env env its OccupancyGrid (--set "
                "env_kwargs.config.observation.type=OccupancyGrid, or dqn's preset section intersection-v0@grid_cnn), "
                "or use --extractor mlp for a flat vector or an entity set"
            )
        check_int("features_dim", features_dim, 1)
        check_int("kernel_size", kernel_size, 1)
        channels = tuple(channels)
        if not channels:
            raise ValueError("channels=() has no convolution: give one or more channel counts, e.g. [16, 32, 64].")
        for count in channels:
            check_int("channels", count, 1)
        in_channels, height, width = (int(size) for size in observation_space.shape)
        for _ in channels:
            height, width = (height - kernel_size) // kernel_size + 1, (width - kernel_size) // kernel_size + 1
        if height < 1 or width < 1:
            raise ValueError(
                f"A {observation_space.shape[1]} x {observation_space.shape[2]} grid is too small for "
                f"{len(channels)} convolutions of kernel and stride {kernel_size}: use fewer channels entries or a "
                "larger grid (grid_size / grid_step of the OccupancyGrid)."
            )
        super().__init__(observation_space, features_dim)
        layers: list[nn.Module] = []
        for count in channels:
            layers += [nn.Conv2d(in_channels, count, kernel_size=kernel_size, stride=kernel_size), nn.ReLU()]
            in_channels = count
        self.convs = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Sequential(nn.Linear(in_channels * height * width, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` grids -> ``(B, features_dim)`` features."""
        return self.head(self.convs(observations))  # (B, C', H', W') flattened -> (B, features_dim)
