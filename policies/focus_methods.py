"""Focus methods as plug-ins: ``FOCUS_METHODS`` holds each method itself (``FocusMethod``), not its description.

A method computes a ``(B, N)`` focus over the named parts from what one report has (``FocusInputs``: the
extractor's explanation, the policy, the observations, the shared causal effects) and says what else it supports:
an ONNX export (a function of the ``Explanation``, traced into the graph), the memory of ``ppo_trxl`` (a function of
``MemoryInputs``), and whether it needs the causal effects (one extra policy pass per removed part). The report,
the export, the memory focus, the CLI and the logged tags all read this registry. Add one with
``register_focus_method`` from your own file::

    register_focus_method("sharp", lambda inputs: inputs.explanation.focus ** 2, description="readout, squared")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from policies.causal import causal_focus
from policies.extractor import AttentionExtractor, Explanation
from policies.registry import Registry


@dataclass(frozen=True)
class FocusInputs:
    """What a focus method may read for one batch of observations."""

    explanation: Explanation
    """The extractor's captured forward pass (``focus``, ``rollout``, ``weights``, ``mask``...)."""
    policy: nn.Module
    """The SB3 policy whose actor reads through ``extractor``."""
    extractor: AttentionExtractor
    """The actor's ``AttentionExtractor``."""
    observations: torch.Tensor | dict[str, torch.Tensor]
    """``(B, ...)`` as ``policy.obs_to_tensor`` gives them."""
    effects: Callable[[], torch.Tensor]
    """``() -> (B, N)`` float64: the causal effect of removing each part, computed once and shared by every method."""


@dataclass(frozen=True)
class MemoryInputs:
    """What a focus method over ``ppo_trxl``'s memory may read: parts ``t-M .. t-1, t-0``."""

    policy: Any
    """The ``TrXLPolicy`` (``policy.memory.explain(features, memory, memory_mask)`` gives each layer's weights)."""
    observations: torch.Tensor | dict[str, torch.Tensor]
    """``(B, ...)`` as ``policy.obs_to_tensor`` gives them."""
    features: torch.Tensor
    """``(B, features_dim)`` the extractor's features of the current step."""
    memory: torch.Tensor
    """``(B, M, L, D)`` the memory windows the steps are acted on with."""
    memory_mask: torch.Tensor
    """``(B, M)`` True for slots of the step's own episode."""
    effects: Callable[[], torch.Tensor]
    """``() -> (B, M + 1)`` float64: the causal effect of masking each memory step (``t-0``: 0), computed once."""

    @property
    def attend(self) -> torch.Tensor:
        """``(B, M + 1)`` True for the parts a step can see: its episode's memory slots and ``t-0``."""
        return torch.cat([self.memory_mask, torch.ones_like(self.memory_mask[:, :1])], dim=1)


FocusFn = Callable[[FocusInputs], torch.Tensor | np.ndarray]
ExportFn = Callable[[Explanation], torch.Tensor]
MemoryFn = Callable[[MemoryInputs], torch.Tensor | np.ndarray]


@dataclass(frozen=True)
class FocusMethod:
    """One focus method: how it is computed and what it supports.

    Every function returns a ``(B, N)`` non-negative focus; the callers set padding to 0 and make rows sum to 1.
    """

    compute: FocusFn
    """The focus of an ``AttentionExtractor`` policy (``attention_report``, the callbacks, eval)."""
    description: str = ""
    """One line for ``--help``, errors and docs."""
    export: ExportFn | None = None
    """The focus from an ``Explanation`` alone, traceable into an ONNX graph; None: not exportable."""
    memory: MemoryFn | None = None
    """The focus over ``ppo_trxl``'s memory steps; None: not for memory policies."""
    causal: bool = False
    """Reads ``inputs.effects()``: one extra policy pass per removed part (costly on many parts)."""


#: Focus methods by name.
FOCUS_METHODS: Registry[FocusMethod] = Registry("focus method")


def register_focus_method(
    name: str,
    compute: FocusFn,
    *,
    description: str = "",
    export: ExportFn | None = None,
    memory: MemoryFn | None = None,
    causal: bool = False,
) -> FocusMethod:
    """Register a focus method under ``name``; returns the ``FocusMethod``. See ``FocusMethod`` for the arguments."""
    if not callable(compute):
        raise TypeError(f"compute={compute!r} must be a function of FocusInputs returning a (B, N) focus.")
    for what, fn in (("export", export), ("memory", memory)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{what}={fn!r} must be a function or None.")
    method = FocusMethod(compute, description, export, memory, causal)
    return FOCUS_METHODS.register(name, method)


def methods_with(capability: str) -> list[str]:
    """Names of the methods that support ``capability``: ``"export"``, ``"memory"`` or ``"causal"``."""
    return [name for name, method in FOCUS_METHODS.items() if getattr(method, capability)]


def check_focus_methods(methods: Sequence[str], supporting: str | None = None) -> list[str]:
    """The canonical names of ``methods``; ``ValueError`` for none, an unknown, a repeat or an unsupported one.

    Args:
        methods: focus method names, each once.
        supporting: ``"export"`` or ``"memory"`` to refuse a method without that capability.

    A lone string (``"causal"``, which would be read letter by letter) is a ``TypeError``.
    """
    if isinstance(methods, str):
        raise TypeError(f"focus={methods!r} is one string: give a list of method names, e.g. [{methods!r}].")
    if not methods or not all(isinstance(m, str) for m in methods):
        raise ValueError(
            f"focus={methods!r} is invalid: give one or more of {', '.join(FOCUS_METHODS)} "
            "(e.g. --focus causal,rollout)."
        )
    names = [FOCUS_METHODS.canonical(m) for m in methods]  # unknown names raise with a suggestion
    if len(set(names)) != len(names):
        raise ValueError(f"focus={list(methods)!r} names a method twice: give each once.")
    if supporting is not None:
        able = methods_with(supporting)
        refused = [name for name in names if name not in able]
        if refused:
            what = {
                "export": "be exported to ONNX (an exported focus is a function of one forward pass; compute the "
                "others in Python with policies.attention_report)",
                "memory": "run on a memory policy (ppo_trxl)",
            }.get(supporting, f"do {supporting}")
            raise ValueError(
                f"{', '.join(f'focus={name!r}' for name in refused)} cannot {what}: use "
                f"{' or '.join(able) or 'a method registered with that support'}."
            )
    return names


def _memory_readout(inputs: MemoryInputs) -> torch.Tensor:
    """The last memory layer's weights from the current step, mean over heads; other episodes' slots 0."""
    weights = inputs.policy.memory.explain(inputs.features, inputs.memory, inputs.memory_mask)[-1]  # (B, H, M + 1)
    return weights.mean(dim=1) * inputs.attend  # (B, M + 1)


def _memory_causal(inputs: MemoryInputs) -> torch.Tensor:
    """The effects normalised; uniform over the episode's memory slots (``t-0`` when none) where nothing moved."""
    mask = inputs.memory_mask
    slots = torch.cat([mask, ~mask.any(dim=1, keepdim=True)], dim=1)  # (B, M + 1)
    return causal_focus(inputs.effects(), slots)


register_focus_method(
    "readout", lambda inputs: inputs.explanation.focus,
    description="the readout's attention weights, mean over heads",
    export=lambda explanation: explanation.focus, memory=_memory_readout,
)  # fmt: skip
register_focus_method(
    "rollout", lambda inputs: inputs.explanation.rollout,
    description="attention rollout through every block into the readout (Abnar & Zuidema)",
    export=lambda explanation: explanation.rollout,
)  # fmt: skip
register_focus_method(
    "causal", lambda inputs: causal_focus(inputs.effects(), inputs.explanation.mask.to(inputs.effects().device)),
    description="the action distribution's change when each part is removed (KL)",
    memory=_memory_causal, causal=True,
)  # fmt: skip
