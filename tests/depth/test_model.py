"""StereoAdapter pieces: correlation pyramid, convex upsampling, forward shapes, padding and the iteration knob."""

import pytest
import torch
import torch.nn.functional as F  # noqa: N812 (the torch convention)

from groundfm.depth.config import EncoderConfig, LoRAConfig, StereoAdapterConfig
from groundfm.depth.model import CorrPyramid, StereoAdapter, best_match, convex_upsample, zncc_descriptors


def tiny_config(**overrides) -> StereoAdapterConfig:
    """A small StereoAdapter for fast tests."""
    enc = EncoderConfig(stem_dims=(16, 16), embed_dim=32, depth=2, heads=2, out_indices=(0, 1), feature_dim=16)
    return StereoAdapterConfig(**{'encoder': enc, 'lora': LoRAConfig(rank=2), 'hidden_dims': (16, 16, 16),
                                  **overrides})


@pytest.mark.parametrize(('shift', 'guess'), [(0, 0.0), (3, 3.0), (5, 2.0), (7, 11.0)])
def test_correlation_pyramid_recovers_a_known_shift(shift, guess):
    torch.manual_seed(0)
    w = 48
    left = F.normalize(torch.randn(1, 16, 4, w + shift), dim=1)
    right = left[..., shift:]  # right(x) = left(x + shift): left x matches right x - shift
    left = left[..., :w]
    pyramid = CorrPyramid(left, right, levels=2, radius=4)

    samples = pyramid(torch.full((1, 1, 4, w), guess))  # window around x - guess

    assert samples.shape == (1, 2 * 9, 4, w)
    level0 = samples[:, :9, :, 16:-16]  # columns whose match lies inside the right image
    found = guess + 4 - level0.argmax(dim=1).float()  # window index k samples x - guess + (k - 4)
    assert (found == shift).float().mean() > 0.95


def test_correlation_lookup_is_zero_outside_the_image():
    left = torch.ones(1, 4, 2, 8)
    pyramid = CorrPyramid(left, left, levels=1, radius=1)

    samples = pyramid(torch.full((1, 1, 2, 8), 100.0))

    assert torch.count_nonzero(samples) == 0


def test_convex_upsampling_of_a_constant_is_the_scaled_constant():
    disparity = torch.full((2, 1, 5, 7), 3.0)
    mask = torch.randn(2, 9 * 16, 5, 7)

    up = convex_upsample(disparity, mask, 4)

    assert up.shape == (2, 1, 20, 28)
    assert torch.allclose(up[..., 4:-4, 4:-4], torch.full_like(up[..., 4:-4, 4:-4], 12.0), atol=1e-5)


@pytest.mark.parametrize('size', [(48, 64), (37, 53)])
def test_forward_shapes_with_padding_and_cropping(size):
    torch.manual_seed(0)
    model = StereoAdapter(tiny_config()).eval()
    left = torch.rand(2, 3, *size) * 255
    right = torch.rand(2, 3, *size) * 255

    with torch.no_grad():
        out = model(left, right, iterations=2, return_sequence=True)

    for key in ('disparity', 'mono', 'confidence'):
        assert out[key].shape == (2, 1, *size), key
    assert len(out['sequence']) == 3 and out['sequence'][-1].shape == (2, 1, *size)
    assert (out['disparity'] >= 0).all() and ((out['confidence'] >= 0) & (out['confidence'] <= 1)).all()


def test_iterations_change_the_estimate_and_bad_inputs_are_refused():
    torch.manual_seed(0)
    model = StereoAdapter(tiny_config()).eval()
    left, right = torch.rand(1, 3, 32, 48) * 255, torch.rand(1, 3, 32, 48) * 255
    with torch.no_grad():
        zero = model(left, right, iterations=0)['disparity']
        three = model(left, right, iterations=3)['disparity']

    assert not torch.allclose(zero, three)
    with pytest.raises(ValueError, match='must both be'):
        model(left, right[..., :40])
    with pytest.raises(ValueError, match='iterations'):
        model(left, right, iterations=-1)


def test_merging_lora_keeps_the_output():
    torch.manual_seed(0)
    model = StereoAdapter(tiny_config()).eval()
    for layer in model.lora_layers():
        with torch.no_grad():
            layer.lora_b.normal_(std=0.05)
    left, right = torch.rand(1, 3, 32, 48) * 255, torch.rand(1, 3, 32, 48) * 255
    with torch.no_grad():
        before = model(left, right, iterations=2)['disparity']
        merged = model.merge_lora()
        after = model(left, right, iterations=2)['disparity']

    assert len(model.lora_layers()) == 4 * 2 and merged == 8 * 2
    assert torch.allclose(before, after, atol=1e-3)


def test_zncc_descriptors_ignore_gain_and_offset_and_find_a_shift():
    torch.manual_seed(0)
    texture = torch.rand(1, 3, 32, 80) * 255
    shift = 8  # two 1/4-grid cells
    left, right = texture[..., :64], texture[..., shift:shift + 64]  # left x matches right x - shift
    right = 0.5 * right + 40.0  # another exposure

    a, b = zncc_descriptors(torch.cat([left, right]), 16, 2.0).split(1)

    assert a.shape == (1, 64, 8, 16)
    assert torch.allclose(a.norm(dim=1), torch.ones(1, 8, 16), atol=1e-3)
    same = (a[..., 5:12] * b[..., 3:10]).sum(dim=1)  # cells whose windows and blur stay inside both images
    assert torch.allclose(same, torch.ones_like(same), atol=2e-3)
    scores = torch.einsum('bchx,bchy->bhxy', a, b)[0, :, 6:, :]  # left cells whose match lies inside
    assert (scores.argmax(dim=-1) == torch.arange(6, 16) - 2).float().mean() > 0.9
    with torch.autocast('cpu', torch.bfloat16):  # the bf16 inference path keeps these in fp32
        assert zncc_descriptors(left, 16, 2.0).dtype == torch.float32


def test_zncc_cost_gets_its_own_motion_conv():
    torch.manual_seed(0)
    plain = StereoAdapter(tiny_config()).eval()
    with_zncc = StereoAdapter(tiny_config(zncc_window=16)).eval()
    left, right = torch.rand(1, 3, 32, 48) * 255, torch.rand(1, 3, 32, 48) * 255

    assert plain.update.motion.zncc is None
    assert with_zncc.update.motion.zncc.in_channels == with_zncc.update.motion.corr[0].in_channels
    with torch.no_grad():
        out = with_zncc(left, right, iterations=2)['disparity']
    assert out.shape == (1, 1, 32, 48) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match='zncc_window'):
        tiny_config(zncc_window=6)
    with pytest.raises(ValueError, match='window'):
        zncc_descriptors(left, 10, 2.0)


def smooth_rows(width: int, shift: float) -> torch.Tensor:
    """(1, 8, 2, width) unit feature vectors varying smoothly along x, sampled at x + shift."""
    x = torch.arange(width, dtype=torch.float32) + shift
    freqs = torch.tensor([0.11, 0.23, 0.37, 0.53])
    waves = torch.cat([torch.sin(freqs[:, None] * x), torch.cos(freqs[:, None] * x)])  # 8 w
    return F.normalize(waves, dim=0).view(1, 8, 1, width).expand(1, 8, 2, width)


@pytest.mark.parametrize('shift', [3.0, 5.5, 9.25])
def test_best_match_finds_a_sub_pixel_shift_inside_the_disparity_range(shift):
    w = 40
    left, right = smooth_rows(w, 0.0), smooth_rows(w, shift)  # right(x) = left(x + shift): disparity = shift
    volume = CorrPyramid(left, right, levels=1, radius=1).volume.view(1, 2, w, w)
    scaled = 25.0 * volume

    found = best_match([volume], max_disparity=16)
    inside = found[..., 12:]  # left pixels whose match lies in the right image

    assert found.shape == (1, 1, 2, w) and not found.requires_grad
    assert torch.allclose(inside, torch.full_like(inside, shift), atol=0.25)
    torch.manual_seed(0)
    noise = torch.einsum('bchx,bchy->bhxy', *F.normalize(torch.randn(2, 8, 2, w), dim=1).split(1))
    mixed = best_match([volume, noise], 16)
    assert torch.allclose(best_match([scaled, noise], 16), mixed, atol=1e-4), 'volumes are standardised first'
    assert not torch.allclose(best_match([noise], 16), mixed, atol=0.25), 'and both count'
    assert best_match([volume], max_disparity=2).max() <= 2.0 + 1e-6  # larger disparities never compete
    assert best_match([volume], max_disparity=16).min() >= -0.5  # nor do right pixels right of the left pixel
    whole = best_match([volume], max_disparity=16, sub_pixel=False)
    assert torch.equal(whole, whole.round()) and (whole[..., 12:] - shift).abs().max() <= 0.5


def test_refinement_can_start_from_the_best_match():
    torch.manual_seed(0)
    mono_start = StereoAdapter(tiny_config(zncc_window=16)).eval()
    match_start = StereoAdapter(tiny_config(zncc_window=16, refine_from='matching')).eval()
    match_start.load_state_dict(mono_start.state_dict())  # the same tensors: only the start differs
    texture = torch.rand(1, 3, 32, 80) * 255
    left, right = texture[..., 8:72], texture[..., 16:]  # left x matches right x - 8: disparity 8 px

    with torch.no_grad():
        mono = mono_start(left, right, iterations=0, return_sequence=True)
        match_start.match.weight.zero_()  # untrained features would only add noise: a zero volume adds nothing
        match_start.match.bias.zero_()
        match = match_start(left, right, iterations=0, return_sequence=True)

    assert torch.equal(mono['start'], mono['mono']) and torch.equal(match['mono'], mono['mono'])
    assert torch.equal(match['disparity'], match['start'].clamp_min(0))
    inside = match['start'][..., 8:24, 24:56]  # away from borders and the unmatched left band
    assert (inside - 8).abs().median() < 1.0, 'the ZNCC volume alone finds an 8 px shift in random texture'
    with pytest.raises(ValueError, match='refine_from'):
        tiny_config(refine_from='zero')


def test_config_round_trips_and_names_bad_fields():
    cfg = tiny_config(iterations=5, zncc_window=12, refine_from='matching')

    assert StereoAdapterConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match='heads'):
        EncoderConfig(embed_dim=30, heads=4)
    with pytest.raises(ValueError, match='bogus'):
        StereoAdapterConfig.from_json('{"bogus": 1}')
