"""Conv tokens: the cells of a convolutional stem as parts (shapes, names, geometry, errors, focus, save/load)."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO

import envs  # noqa: F401  (registers attn/PatchFind-v0)
from agents.pictures.drawing import FOCUS_COLOR, RELEVANT_DASH, cell_focus_overlay, report_cells, scene_with_attention
from policies import EXTRACTORS, TOKENIZERS, AttentionExtractor, ConvAttentionExtractor, attention_report
from policies.causal import part_groups
from policies.tokenizers.conv import STEMS, ConvTokenizer, Stem, make_stem

D = 8


def image_space(height: int, width: int, first: bool, dtype: type) -> spaces.Box:
    shape = (3, height, width) if first else (height, width, 3)
    return spaces.Box(0, 255 if dtype == np.uint8 else 1.0, shape, dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32], ids=["uint8", "float"])
@pytest.mark.parametrize("first", [False, True], ids=["hwc", "chw"])
@pytest.mark.parametrize(
    ("stem", "height", "width", "grid"),
    [("nature", 36, 36, (1, 1)), ("nature", 48, 64, (2, 4)), ("nature", 84, 84, (7, 7)), ("small", 48, 48, (6, 6)),
     ("small", 56, 40, (7, 5)), ("small", 8, 8, (1, 1)), ("medium", 48, 48, (6, 6)), ("medium", 56, 40, (7, 5)),
     ("fast", 48, 48, (6, 6)), ("fast", 56, 56, (7, 7)), ("fast", 56, 40, (7, 5)), ("fast", 8, 8, (1, 1))],
)  # fmt: skip
def test_shapes_and_part_names(stem, height, width, grid, first, dtype):
    space = image_space(height, width, first, dtype)
    tokenizer = ConvTokenizer(space, D, stem=stem)
    rows, cols = grid
    assert tokenizer.grid == grid and tokenizer.num_parts == rows * cols
    assert tokenizer.part_names[0] == "cell_r0c0" and tokenizer.part_names[-1] == f"cell_r{rows - 1}c{cols - 1}"
    assert tokenizer.cell_boxes.shape == tokenizer.receptive_fields.shape == (rows * cols, 4)
    tokens, mask = tokenizer(torch.as_tensor(np.stack([space.sample() for _ in range(2)])).float())
    assert tokens.shape == (2, rows * cols, D) and mask.all()


def test_channels_first_and_last_give_the_same_tokens():
    hwc = ConvTokenizer(image_space(40, 40, False, np.float32), D, stem="small")
    chw = ConvTokenizer(image_space(40, 40, True, np.float32), D, stem="small")
    chw.load_state_dict(hwc.state_dict())
    images = torch.rand(2, 40, 40, 3)
    torch.testing.assert_close(hwc(images)[0], chw(images.permute(0, 3, 1, 2))[0])


def test_too_small_images_fail_at_construction_naming_the_size_and_the_fix():
    with pytest.raises(ValueError, match=r"24x24 image is too small.*'nature'.*at least 36x36.*stem='small'"):
        AttentionExtractor(image_space(24, 24, False, np.uint8), tokenizer="conv")
    with pytest.raises(ValueError, match=r"6x6 image is too small.*at least 8x8"):
        ConvTokenizer(image_space(6, 6, True, np.float32), D, stem="small")
    with pytest.raises(ValueError, match=r"too small for the given conv stem"):
        ConvTokenizer(image_space(10, 10, False, np.uint8), D, stem={"channels": [4], "kernels": [11]})


def test_stems_by_name_or_mapping_and_their_errors():
    assert make_stem("NATURE") == STEMS.get("nature")
    assert make_stem({"channels": [4, 8], "kernels": 3, "strides": [2, 1]}) == Stem((4, 8), (3, 3), (2, 1), (0, 0))
    with pytest.raises(ValueError, match=r"Unknown stem 'smal'.*Did you mean 'small'"):
        make_stem("smal")
    with pytest.raises(ValueError, match=r"has 1 entries for 2 layers"):
        make_stem({"channels": [4, 8], "kernels": [3]})
    with pytest.raises(ValueError, match=r"unknown: use channels"):
        make_stem({"channel": [4]})
    with pytest.raises(ValueError, match=r"stem='small' does not apply to the 'patch' tokenizer"):
        AttentionExtractor(image_space(16, 16, False, np.uint8), tokenizer="patch", stem="small")


def test_receptive_fields_and_centre_regions():
    # small: field 10, jump 8, cells centred on the 8 px patches; medium, wide and fast: the same cells, fields 14, 22
    # and 12
    assert STEMS.get("small").receptive_field() == (8.0, 10.0, 4.0)
    assert STEMS.get("fast").receptive_field() == (8.0, 12.0, 4.0)
    assert STEMS.get("medium").receptive_field() == (8.0, 14.0, 4.0)
    assert STEMS.get("wide").receptive_field() == (8.0, 22.0, 4.0)
    patches = np.array([[8 * c, 8 * r, 8 * c + 8, 8 * r + 8] for r in range(6) for c in range(6)], dtype=float)
    fields = {
        "small": [7.0, 7.0, 17.0, 17.0], "medium": [5.0, 5.0, 19.0, 19.0], "wide": [1.0, 1.0, 23.0, 23.0],
        "fast": [6.0, 6.0, 18.0, 18.0],
    }  # fmt: skip
    for stem, field in fields.items():  # cell (1, 1): centred on pixel 12
        tokenizer = ConvTokenizer(image_space(48, 48, False, np.uint8), D, stem=stem)
        np.testing.assert_array_equal(tokenizer.cell_boxes, patches)
        np.testing.assert_array_equal(tokenizer.receptive_fields[7], field)
    # nature: field 36, jump 8, first centre 18: on 48 px the two cells sit in the middle 16 pixels
    assert STEMS.get("nature").receptive_field() == (8.0, 36.0, 18.0)
    nature = ConvTokenizer(image_space(48, 48, False, np.uint8), D)
    np.testing.assert_array_equal(nature.cell_boxes[0], [14.0, 14.0, 22.0, 22.0])
    np.testing.assert_array_equal(nature.receptive_fields[3], [8.0, 8.0, 44.0, 44.0])
    assert nature.part_of((20, 20, 0)) == "cell_r0c0" and nature.part_of((47, 47, 0)) == "cell_r1c1"


@pytest.mark.parametrize("stem", sorted(STEMS.names()))
def test_receptive_fields_are_the_pixels_that_move_each_cell(stem):
    # Positive weights and biases keep every ReLU open, so a pixel moves a cell exactly when the cell can see it.
    tokenizer = ConvTokenizer(image_space(48, 48, True, np.float32), D, stem=stem)
    with torch.no_grad():
        for layer in tokenizer.stem:
            if isinstance(layer, torch.nn.Conv2d):
                layer.weight.fill_(1.0 / layer.weight[0].numel())
                layer.bias.fill_(1.0)
    images = torch.ones(1, 3, 48, 48, requires_grad=True)
    cells = tokenizer.stem(images)  # (1, C, rows, cols)
    rows, cols = tokenizer.grid
    for index in sorted({0, cols + 1, rows * cols // 2, rows * cols - 1} & set(range(rows * cols))):
        (grad,) = torch.autograd.grad(cells[0, :, index // cols, index % cols].sum(), images, retain_graph=True)
        ys, xs = np.nonzero(grad[0].abs().sum(0).numpy())  # the pixels this cell sees
        seen = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        np.testing.assert_array_equal(seen, tokenizer.receptive_fields[index], err_msg=f"cell {index}")


def test_fast_stem_cells_sit_on_minigrid_tiles_and_cost_like_nature_cnn():
    # MiniGrid pixels: 56 px, 8 px tiles; cell (r, c) is centred on tile (r, c) and sees it and 2 px around it.
    tokenizer = ConvTokenizer(image_space(56, 56, True, np.uint8), D, stem="fast")
    tiles = np.array([[8 * c, 8 * r, 8 * c + 8, 8 * r + 8] for r in range(7) for c in range(7)], dtype=float)
    np.testing.assert_array_equal(tokenizer.cell_boxes, tiles)
    np.testing.assert_array_equal(tokenizer.receptive_fields[24], [22.0, 22.0, 34.0, 34.0])  # the middle tile
    assert tokenizer.part_of((0, 27, 27)) == "cell_r3c3" and tokenizer.part_of((0, 55, 0)) == "cell_r6c0"
    # Its first layer is NatureCNN's (8 x 8, stride 4, 32 channels): a 14 x 14 map where `small` runs at 28 x 28.
    first = tokenizer.stem[0]
    assert (first.kernel_size, first.stride, first.out_channels) == ((8, 8), (4, 4), 32)
    assert tokenizer.stem[:2](torch.zeros(1, 3, 56, 56)).shape == (1, 32, 14, 14)


@pytest.mark.parametrize("old_stem", ["small", "medium"])
def test_a_run_trained_with_an_earlier_preset_stem_still_loads(tmp_path, tiny_config, old_stem):
    # The presets chose `small` (MiniGrid pixels) and `medium` (PatchFind) before `fast`: a run keeps its stem in
    # config.yaml and in the zip's policy kwargs, so it loads with the stem it was trained with.
    import agents

    config = tiny_config(tmp_path, env="attn/PatchFind-v0", extractor="conv", extractor_kwargs={"stem": old_stem})
    run = agents.train(config)
    obs, _ = observations(gym.make("attn/PatchFind-v0"), 4)
    expected = run.model.predict(obs, deterministic=True)[0]
    for safe in (False, True):
        loaded = agents.load(run.path, safe=safe)
        assert loaded.policy.features_extractor.tokenizer.stem_spec == STEMS.get(old_stem)
        np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], expected)


def test_registered_and_selectable_for_dict_image_keys():
    assert TOKENIZERS.get("conv") is ConvTokenizer and EXTRACTORS.get("conv") is ConvAttentionExtractor
    space = spaces.Dict({"image": image_space(16, 16, True, np.uint8), "pos": spaces.Box(-1, 1, (2,), np.float32)})
    extractor = AttentionExtractor(space, image_tokenizer="conv", stem="small")
    assert extractor.part_names == ["image/cell_r0c0", "image/cell_r0c1", "image/cell_r1c0", "image/cell_r1c1", "pos"]
    with pytest.raises(ValueError, match=r"image_tokenizer='cnn' is unknown"):
        AttentionExtractor(space, image_tokenizer="cnn")


def patchfind_model(seed: int = 0, **kwargs: object) -> tuple[PPO, gym.Env]:
    env = gym.make("attn/PatchFind-v0")
    extractor_kwargs = {"stem": "small", "embed_dim": 16, "features_dim": 16, "num_layers": 0, **kwargs}
    policy_kwargs = dict(
        features_extractor_class=ConvAttentionExtractor, features_extractor_kwargs=extractor_kwargs, net_arch=[16]
    )
    return PPO("MlpPolicy", env, n_steps=32, batch_size=32, n_epochs=1, policy_kwargs=policy_kwargs, seed=seed), env


def observations(env: gym.Env, count: int) -> tuple[np.ndarray, list[np.ndarray]]:
    obs, relevant = [], []
    for seed in range(count):
        o, info = env.reset(seed=seed)
        obs.append(o)
        relevant.append(info["relevant_parts"])
    return np.stack(obs), relevant


@pytest.mark.parametrize("method", ["readout", "rollout", "causal"])
def test_focus_maps_on_the_cell_grid_and_relevant_mass(method):
    model, env = patchfind_model(num_layers=1)
    obs, relevant = observations(env, 3)
    report = attention_report(model, obs, method=method)
    assert report.part_names[:2] == ["cell_r0c0", "cell_r0c1"] and report.grid == (6, 6)
    assert report.focus_map().shape == (3, 6, 6)
    np.testing.assert_allclose(report.focus_map().sum(axis=(1, 2)), 1.0, atol=1e-5)
    assert report_cells(report) is not None and report.cell_boxes.shape == (36, 4)
    assert np.all((report.relevant_mass(relevant) >= 0) & (report.relevant_mass(relevant) <= 1))


def test_causal_focus_groups_cells_beyond_the_cap():
    space = image_space(80, 80, False, np.uint8)  # small stem: 10 x 10 = 100 cells > 64
    extractor = AttentionExtractor(space, tokenizer="conv", stem="small", embed_dim=8, features_dim=8)
    groups = part_groups(extractor.tokenizer.num_parts, extractor.grid, 64)
    assert len(groups) <= 64 and groups.sum(dim=0).eq(1).all()  # square blocks, each cell in one group


@pytest.mark.parametrize(
    "kwargs", [{}, {"stem": "medium", "top_k": 3, "top_k_per_head": True}], ids=["small", "patchfind-preset"]
)
def test_save_load_gives_identical_actions(tmp_path, kwargs):
    model, env = patchfind_model(**kwargs)
    model.learn(32)
    obs, _ = observations(env, 4)
    model.save(tmp_path / "model.zip")
    loaded = PPO.load(tmp_path / "model.zip", device="cpu")
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    assert loaded.policy.features_extractor.part_names == model.policy.features_extractor.part_names


def test_overlay_tints_centre_regions_and_outlines_the_top_field():
    image = np.full((48, 48, 3), 255, dtype=np.uint8)
    tokenizer = ConvTokenizer(image_space(48, 48, False, np.uint8), D)  # nature: 2 x 2 cells in the middle
    focus = np.array([0.1, 0.1, 0.1, 0.7])
    out = cell_focus_overlay(image, tokenizer.cell_boxes, tokenizer.receptive_fields, focus, relevant=[0])
    factor = 4  # 48 px scaled up to at least 192
    assert out.shape == (192, 192, 3)
    assert (out[26 * factor, 26 * factor] != 255).any()  # cell (1, 1)'s centre region is tinted
    assert (out[2 * factor, 2 * factor] == 255).all()  # outside every centre region: untouched
    assert tuple(out[8 * factor, 30 * factor]) == FOCUS_COLOR  # the top cell's receptive field starts at pixel 8
    assert tuple(out[14 * factor, 16 * factor]) in RELEVANT_DASH  # cell (0, 0)'s centre region from pixel 14
    scene = scene_with_attention(None, image, focus, np.ones(4, bool), (2, 2), cells=report_cells(tokenizer))
    expected = cell_focus_overlay(image, tokenizer.cell_boxes, tokenizer.receptive_fields, focus)
    np.testing.assert_array_equal(scene, expected)


def test_video_frames_draw_conv_focus():
    from agents.pictures.eval_video import AttentionFrames

    model, _ = patchfind_model()
    frames = AttentionFrames(gym.make("attn/PatchFind-v0", render_mode="rgb_array"), model, method="causal")
    frames.reset(seed=0)
    frames.step(0)
    frame = frames.render()
    assert frame.ndim == 3 and frame.shape[0] % 16 == 0 and frame.shape[1] >= 192


def test_relevant_parts_on_another_part_axis_are_refused():
    model, env = patchfind_model(stem="nature")  # 2 x 2 cells, while PatchFind names its 36 patches
    obs, _ = observations(env, 1)
    with pytest.raises(ValueError, match=r"relevant_parts \[40\].*beyond this report's 4.*stem='small'"):
        attention_report(model, obs, method="readout").relevant_mass([[40]])


def test_focus_statistics_report_no_relevant_mass_on_another_part_axis():
    from agents.evaluation.focus_stats import summarize_report

    model, env = patchfind_model(stem="nature")
    obs, relevant = observations(env, 4)
    relevant[0] = np.array([35])  # a patch index beyond the 4 cells
    assert summarize_report(attention_report(model, obs, method="readout"), relevant)["relevant_mass"] is None
    small, _ = patchfind_model()
    assert summarize_report(attention_report(small, obs, method="readout"), relevant)["relevant_mass"] is not None
