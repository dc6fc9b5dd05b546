"""Tokenizers: part names, masks, shapes, auto choice, options and their errors."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from policies import AttentionExtractor
from policies.tokenizers import (
    DictTokenizer,
    EntityTokenizer,
    FeatureTokenizer,
    PatchTokenizer,
    TimeTokenizer,
    auto_tokenizer_name,
    make_tokenizer,
)
from policies.tokenizers.patches import default_patch_size, sincos_positions

D = 8
IMAGE_HWC = spaces.Box(0, 255, shape=(12, 16, 3), dtype=np.uint8)
IMAGE_CHW = spaces.Box(0.0, 1.0, shape=(3, 12, 16), dtype=np.float32)
DICT = spaces.Dict(
    {
        "pos": spaces.Box(-1, 1, shape=(3,)),
        "cars": spaces.Box(-1, 1, shape=(4, 2)),
        "mode": spaces.Discrete(3),
        "camera": spaces.Box(0, 255, shape=(8, 8, 1), dtype=np.uint8),
    }
)


@pytest.mark.parametrize(
    ("space", "name"),
    [
        (spaces.Box(-1, 1, shape=(5, 4)), "entity"),
        (IMAGE_HWC, "patch"),
        (IMAGE_CHW, "patch"),
        (spaces.Box(-1, 1, shape=(7,)), "features"),
        (DICT, "dict"),
    ],
)
def test_auto_picks_the_tokenizer_from_the_space(space, name):
    assert auto_tokenizer_name(space) == name


def test_entity_tokens_and_presence_mask():
    tokenizer = EntityTokenizer(spaces.Box(-1, 1, shape=(4, 3)), D, presence_column=0)
    obs = torch.tensor([[[1.0, 0.2, 0.3], [0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    tokens, mask = tokenizer(obs)
    assert tokens.shape == (1, 4, D)
    assert mask.tolist() == [[True, False, True, False]]
    assert tokenizer.part_names == ["entity_0", "entity_1", "entity_2", "entity_3"]


def test_ego_row_is_named_marked_and_never_padding():
    tokenizer = EntityTokenizer(spaces.Box(-1, 1, shape=(3, 2)), D, ego=True)
    with torch.no_grad():
        tokenizer.ego_embedding.fill_(1.0)
    obs = torch.zeros(1, 3, 2)
    tokens, mask = tokenizer(obs)
    assert tokenizer.part_names[0] == "ego" and mask.tolist() == [[True, False, False]]
    assert not torch.allclose(tokens[0, 0], tokens[0, 1])  # same row values, but the ego is marked


def test_feature_tokens_are_named_and_identified():
    tokenizer = FeatureTokenizer(spaces.Box(-1, 1, shape=(3,)), D, feature_names=["x", "v", "theta"])
    tokens, mask = tokenizer(torch.zeros(2, 3))
    assert tokenizer.part_names == ["feature:x", "feature:v", "feature:theta"]
    assert tokens.shape == (2, 3, D) and mask.all()
    assert not torch.allclose(tokens[0, 0], tokens[0, 1])  # equal values, different feature identity
    with pytest.raises(ValueError, match="feature_names has 2 names for 3 features"):
        FeatureTokenizer(spaces.Box(-1, 1, shape=(3,)), D, feature_names=["x", "v"])


def test_time_tokens_are_named_from_the_latest_step_and_ordered():
    tokenizer = TimeTokenizer(spaces.Box(-1, 1, shape=(4, 2)), D)
    assert tokenizer.part_names == ["t-3", "t-2", "t-1", "t-0"]
    obs = torch.ones(1, 4, 2)
    tokens, mask = tokenizer(obs)
    assert mask.all() and not torch.allclose(tokens[0, 0], tokens[0, 3])  # temporal positions differ


def tokens_changed_by_brightening_r1c2(tokenizer: PatchTokenizer, space) -> list[int]:
    """Indices of the tokens that change when the 4x4 patch at row 1, column 2 turns bright."""
    image = torch.zeros(1, *space.shape)
    bright = image.clone()
    if tokenizer.channels_first:
        bright[0, :, 4:8, 8:12] = 1.0
    else:
        bright[0, 4:8, 8:12, :] = 1.0
    with torch.no_grad():
        changed = (tokenizer(bright)[0] - tokenizer(image)[0]).abs().sum(dim=-1)[0]  # (N,)
    return changed.nonzero().flatten().tolist()


@pytest.mark.parametrize("space", [IMAGE_HWC, IMAGE_CHW])
def test_patches_cover_the_image_in_grid_order(space):
    tokenizer = PatchTokenizer(space, D, patch_size=4)
    assert tokenizer.grid == (3, 4) and tokenizer.num_parts == 12
    assert tokenizer.part_names[:5] == ["patch_r0c0", "patch_r0c1", "patch_r0c2", "patch_r0c3", "patch_r1c0"]
    # brighten exactly one patch: only that token changes
    assert tokens_changed_by_brightening_r1c2(tokenizer, space) == [tokenizer.part_names.index("patch_r1c2")]


@pytest.mark.parametrize("space", [IMAGE_HWC, IMAGE_CHW])
def test_mlp_patch_embedding_keeps_patches_apart(space):
    tokenizer = PatchTokenizer(space, D, patch_size=4, patch_embed="mlp")
    assert tokenizer.grid == (3, 4) and isinstance(tokenizer.embed, torch.nn.Sequential)
    assert tokens_changed_by_brightening_r1c2(tokenizer, space) == [tokenizer.part_names.index("patch_r1c2")]


def test_unknown_patch_embedding_is_rejected_with_a_suggestion():
    with pytest.raises(ValueError, match=r"patch_embed.*'mlp'"):
        PatchTokenizer(IMAGE_HWC, D, patch_size=4, patch_embed="mpl")
    with pytest.raises(ValueError, match=r"patch_embed='mlp' does not apply to the 'entity' tokenizer"):
        AttentionExtractor(spaces.Box(-1, 1, shape=(5, 3)), patch_embed="mlp")


def test_patch_positions_start_distinct_and_at_the_content_scale():
    tokenizer = PatchTokenizer(IMAGE_HWC, 8, patch_size=4)
    with torch.no_grad():
        tokens, _ = tokenizer(torch.zeros(1, *IMAGE_HWC.shape))  # same content everywhere: only positions differ
    distances = torch.cdist(tokens[0], tokens[0])  # (N, N)
    off_diagonal = distances[~torch.eye(len(distances), dtype=torch.bool)]
    assert off_diagonal.min() > 0.1  # every patch tells where it is from the start
    assert sincos_positions(3, 5).shape == (3, 5)
    assert torch.allclose(sincos_positions(3, 4)[0], torch.tensor([0.0, 0.0, 1.0, 1.0]))


def test_default_patch_size_gives_a_grid_near_8x8():
    assert default_patch_size(48, 48) == 6
    assert default_patch_size(64, 64) == 8
    assert default_patch_size(84, 84) == 12
    assert default_patch_size(12, 16) == 2


@pytest.mark.parametrize(("patch_size", "match"), [(5, r"patch_size=5 does not tile the 12x16 image.*\[1, 2, 4\]"),
                                                   (0, "patch_size=0")])  # fmt: skip
def test_patch_size_that_does_not_fit_is_rejected(patch_size, match):
    with pytest.raises(ValueError, match=match):
        PatchTokenizer(IMAGE_HWC, D, patch_size=patch_size)


def test_too_many_patches_asks_for_a_larger_patch_size():
    with pytest.raises(ValueError, match="more than 1024"):
        PatchTokenizer(spaces.Box(0, 255, shape=(64, 64, 3), dtype=np.uint8), D, patch_size=1)


def test_dict_tokens_are_named_after_the_keys():
    tokenizer = DictTokenizer(DICT, D, patch_size=4)
    assert list(DICT.spaces) == ["camera", "cars", "mode", "pos"]  # gymnasium sorts the keys of a plain dict
    assert tokenizer.part_names == [
        "camera/patch_r0c0", "camera/patch_r0c1", "camera/patch_r1c0", "camera/patch_r1c1",
        "cars/entity_0", "cars/entity_1", "cars/entity_2", "cars/entity_3", "mode", "pos",
    ]  # fmt: skip
    obs = {
        "pos": torch.zeros(2, 3),
        "cars": torch.cat([torch.ones(2, 2, 2), torch.zeros(2, 2, 2)], dim=1),  # two padding rows
        "mode": torch.nn.functional.one_hot(torch.tensor([0, 2]), 3).float(),
        "camera": torch.rand(2, 8, 8, 1),  # laid out as the space says (SB3 transposes space and data alike)
    }
    tokens, mask = tokenizer(obs)
    assert tokens.shape == (2, 10, D)
    assert mask[0].tolist() == [True] * 4 + [True, True, False, False] + [True, True]


def test_dict_rejects_keys_no_tokenizer_reads():
    with pytest.raises(TypeError, match="Dict key 'grid' has the space"):
        DictTokenizer(spaces.Dict({"grid": spaces.Box(0, 1, shape=(2, 2, 2, 2))}), D)


def test_option_for_another_tokenizer_is_rejected():
    with pytest.raises(ValueError, match=r"patch_size=4 does not apply to the 'entity' tokenizer"):
        make_tokenizer("auto", spaces.Box(-1, 1, shape=(5, 4)), D, patch_size=4)
    with pytest.raises(TypeError, match="tokenizer='patch' cannot read"):
        make_tokenizer("patch", spaces.Box(-1, 1, shape=(5, 4)), D)


@pytest.mark.parametrize(
    ("space", "kwargs", "obs", "where", "part"),
    [
        (spaces.Box(-1, 1, shape=(7,)), {}, (0, 5), (1, 5), "feature:5"),
        (IMAGE_CHW, {"patch_size": 4}, (0, 0, 0, 0), (1, 2, 9, 13), "patch_r2c3"),
        (spaces.Box(-1, 1, shape=(4, 2)), {"tokenizer": "time"}, None, (0, 1, 1), "t-2"),
    ],
)
def test_non_finite_values_are_named_by_part(space, kwargs, obs, where, part):
    extractor = AttentionExtractor(space, **kwargs)
    batch = torch.zeros(2, *space.shape)
    batch[where] = float("inf")
    with pytest.raises(ValueError, match=f"in part '{part}'"):
        extractor(batch)


def test_non_finite_dict_value_names_the_key_part():
    extractor = AttentionExtractor(DICT, patch_size=4)
    obs = {k: torch.zeros(1, *s.shape) for k, s in DICT.spaces.items() if k != "mode"}
    obs["mode"] = torch.zeros(1, 3)
    obs["camera"] = torch.zeros(1, 8, 8, 1)
    obs["cars"][0, 2, 1] = float("nan")
    with pytest.raises(ValueError, match="in part 'cars/entity_2'"):
        extractor(obs)


def normalized_readback_r2(tokenizer: FeatureTokenizer, values: torch.Tensor) -> float:
    """R^2 of a linear read-back of feature 0's value from its LayerNorm'd token (what attention blocks see)."""
    with torch.no_grad():
        tokens, _ = tokenizer(torch.stack([values, torch.zeros_like(values)], dim=1))
        normed = torch.nn.functional.layer_norm(tokens[:, 0], tokens.shape[-1:])  # (B, D)
    design = torch.cat([normed, torch.ones(len(values), 1)], dim=1).double()
    coef = torch.linalg.lstsq(design, values.double()[:, None]).solution
    residual = values.double() - (design @ coef)[:, 0]
    return float(1 - residual.var() / values.double().var())


def test_default_feature_tokens_keep_large_values_through_a_layer_norm():
    torch.manual_seed(0)
    space = spaces.Box(-np.inf, np.inf, shape=(2,))
    values = torch.linspace(-30, 30, 401)  # Acrobot's angular velocities reach 4 pi and 9 pi
    default = FeatureTokenizer(space, D)
    linear = FeatureTokenizer(space, D, value_embed="linear", squash="none")  # FT-Transformer's x_i * w_i
    assert normalized_readback_r2(default, values) > 0.95
    assert normalized_readback_r2(linear, values) < normalized_readback_r2(default, values)


def test_feature_tokenizer_options_are_checked():
    with pytest.raises(ValueError, match="value_embed='cubic' is not one of mlp, linear"):
        FeatureTokenizer(spaces.Box(-1, 1, shape=(3,)), D, value_embed="cubic")
    with pytest.raises(ValueError, match="squash='log' is not one of symlog, none"):
        FeatureTokenizer(spaces.Box(-1, 1, shape=(3,)), D, squash="log")


@pytest.mark.parametrize("tokenizer", ["entity", "time"])
def test_one_layer_row_embedding_and_no_readout_norm_are_leaner(tokenizer):
    space = spaces.Box(-1, 1, shape=(6, 4))
    full = AttentionExtractor(space, tokenizer=tokenizer, num_layers=0)
    lean = AttentionExtractor(space, tokenizer=tokenizer, num_layers=0, embed_layers=1, readout_norm=False)
    assert len(list(lean.parameters())) == len(list(full.parameters())) - 4  # one Linear and the LayerNorm fewer
    assert [type(m).__name__ for m in lean.tokenizer.embed] == ["Linear", "ReLU"]
    assert lean(torch.rand(3, 6, 4)).shape == (3, 64)
    with pytest.raises(ValueError, match="embed_layers=3 is invalid: use 2"):
        AttentionExtractor(space, tokenizer=tokenizer, embed_layers=3)
    with pytest.raises(TypeError, match="readout_norm='no' must be True or False"):
        AttentionExtractor(space, tokenizer=tokenizer, readout_norm="no")


def test_features_norm_fixes_the_scale_of_the_features_and_adds_no_parameters():
    torch.manual_seed(0)  # a row whose ReLU features are all 0 has no norm to fix
    space = spaces.Box(-1, 1, shape=(5,))
    raw = AttentionExtractor(space)
    normed = AttentionExtractor(space, features_norm=1.0)
    assert normed.state_dict().keys() == raw.state_dict().keys()  # saved models load either way
    features = normed(100 * torch.randn(7, 5))  # (7, 64)
    torch.testing.assert_close(features.norm(dim=-1), torch.ones(7), rtol=1e-3, atol=1e-3)
    for bad in (0, -1.0, True, "1"):
        with pytest.raises(ValueError, match=f"features_norm={bad!r} is invalid: use a positive number"):
            AttentionExtractor(space, features_norm=bad)


def test_layernorm_tanh_head_bounds_and_centres_the_features():
    torch.manual_seed(0)
    space = spaces.Box(-1, 1, shape=(5,))
    default = AttentionExtractor(space)
    assert [type(m).__name__ for m in default.head] == ["Linear", "ReLU"]  # saved models keep their layers
    bounded = AttentionExtractor(space, head="layernorm_tanh", num_layers=0)
    assert [type(m).__name__ for m in bounded.head] == ["Linear", "LayerNorm", "Tanh"]
    features = bounded(100 * torch.randn(7, 5))  # (7, 64)
    assert features.abs().max() < 1.0 and features.mean(dim=-1).abs().max() < 0.2
    features.sum().backward()
    assert all(p.grad is not None for p in bounded.parameters())
    for bad in ("gelu", None, 1):
        with pytest.raises(ValueError, match=f"head={bad!r} is invalid: use one of 'relu', 'layernorm_tanh'"):
            AttentionExtractor(space, head=bad)
