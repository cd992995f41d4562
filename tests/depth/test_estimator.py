"""SGBM backend and the backend-agnostic estimator: known shifts, depth = fx B / d, input checks."""

import numpy as np
import pytest
import torch
from test_model import tiny_config

from groundfm.depth.checkpoint import save_checkpoint
from groundfm.depth.estimator import DepthEstimator, disparity_to_depth, to_rgb
from groundfm.depth.model import StereoAdapter
from groundfm.depth.sgbm import SGBMConfig, SGBMStereo


def shifted_pair(shift: int, h: int = 96, w: int = 160, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A random-texture left image and a right image with every pixel at x - shift (constant disparity)."""
    rng = np.random.default_rng(seed)
    import cv2

    wide = cv2.resize(rng.integers(0, 256, (h // 2, (w + shift) // 2 + 1, 3), dtype=np.uint8), None, fx=2, fy=2,
                      interpolation=cv2.INTER_LINEAR)[:h]
    left = wide[:, :w].copy()
    right = wide[:, shift:shift + w].copy()  # right(x) = left(x + shift): left x matches right x - shift
    return left, right


@pytest.mark.parametrize('shift', [5, 17])
def test_sgbm_recovers_a_constant_shift(shift):
    left, right = shifted_pair(shift)

    disparity, confidence = SGBMStereo(SGBMConfig(max_disparity=32))(left, right)

    inner = disparity[:, 40:-8]
    assert np.isfinite(inner).mean() > 0.9
    assert np.nanmedian(np.abs(inner - shift)) < 0.5
    assert set(np.unique(confidence)) <= {0.0, 1.0}
    assert np.all(np.isnan(disparity[confidence == 0]))


def test_estimator_depth_is_fx_b_over_d():
    left, right = shifted_pair(8)
    estimator = DepthEstimator('sgbm', max_disparity=32)

    result = estimator.estimate(left, right, fx=200.0, baseline=0.1)

    valid = np.isfinite(result.disparity)
    assert valid.mean() > 0.5
    assert np.allclose(result.depth[valid], 200.0 * 0.1 / result.disparity[valid], rtol=1e-5)
    assert np.all(np.isnan(result.depth[~valid]))
    assert result.ms > 0


def test_disparity_to_depth_and_image_checks():
    depth = disparity_to_depth(np.array([[10.0, 0.0, np.nan, -1.0]], np.float32), fx=100.0, baseline=0.2)

    assert depth[0, 0] == pytest.approx(2.0) and np.isnan(depth[0, 1:]).all()
    with pytest.raises(ValueError, match='baseline'):
        disparity_to_depth(np.ones((2, 2)), 100.0, 0.0)
    grey = np.zeros((4, 5), np.uint8)
    assert to_rgb(grey, 'mono8').shape == (4, 5, 3)
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 0] = 9
    assert to_rgb(bgr, 'bgr8')[..., 2].max() == 9
    with pytest.raises(ValueError, match='unsupported image'):
        to_rgb(np.zeros((4, 5, 3), np.uint8), 'mono8')
    with pytest.raises(ValueError, match='8-bit'):
        to_rgb(np.zeros((4, 5), np.uint16), 'mono16')


def test_model_backend_runs_a_checkpoint_and_refuses_mismatched_sizes(tmp_path):
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / 'm.safetensors', StereoAdapter(tiny_config()))
    estimator = DepthEstimator('model', weights=path, iterations=1, max_disparity=64)
    left, right = shifted_pair(4, h=40, w=60)

    result = estimator.estimate(left, right, fx=100.0, baseline=0.1)

    assert result.disparity.shape == result.confidence.shape == result.depth.shape == (40, 60)
    assert result.disparity.dtype == np.float32
    with pytest.raises(ValueError, match='differ'):
        estimator.disparity(left, right[:, :50])
    with pytest.raises(ValueError, match='backend'):
        DepthEstimator('magic')
    with pytest.raises(ValueError, match='no checkpoint'):
        DepthEstimator('model', weights=tmp_path / 'absent.safetensors')
    with pytest.raises(ValueError, match="'cpu', 'cuda"):
        DepthEstimator('model', weights=path, device='tpu')
    assert DepthEstimator('model', weights=path, device='cpu').disparity(left, right)[0].shape == (40, 60)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match='sees 0 CUDA'):
            DepthEstimator('model', weights=path, device='cuda')


def test_bf16_agrees_with_fp32_and_a_bad_precision_is_refused(tmp_path):
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / 'm.safetensors', StereoAdapter(tiny_config(zncc_window=8)))
    left, right = shifted_pair(4, h=40, w=60)
    fp32 = DepthEstimator('model', weights=path, iterations=2, max_disparity=64, precision='fp32')
    bf16 = DepthEstimator('model', weights=path, iterations=2, max_disparity=64, precision='bf16')

    a, b = fp32.disparity(left, right)[0], bf16.disparity(left, right)[0]

    assert (fp32.precision, bf16.precision) == ('fp32', 'bf16') and b.dtype == np.float32
    assert np.nanmedian(np.abs(a - b)) < 0.1 and not np.array_equal(a, b, equal_nan=True)  # bf16 ran, stays close
    with pytest.raises(ValueError, match='precision'):
        DepthEstimator('model', weights=path, precision='fp16')
    with pytest.raises(ValueError, match='precision'):
        DepthEstimator('sgbm', precision='half')


@pytest.mark.parametrize(('avx512_bf16', 'amx', 'expected'), [(True, False, 'bf16'), (False, True, 'bf16'),
                                                              (False, False, 'fp32')])
def test_auto_precision_follows_the_cpu(monkeypatch, avx512_bf16, amx, expected):
    from groundfm.depth.estimator import model_precision

    monkeypatch.setattr(torch.cpu, '_is_avx512_bf16_supported', lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, '_is_amx_tile_supported', lambda: amx, raising=False)

    assert model_precision('auto', torch.device('cpu')) == expected
    assert model_precision('auto', torch.device('cuda')) == 'fp32'
    assert model_precision('bf16', torch.device('cpu')) == 'bf16'


def test_shipped_weights_load_and_run_on_cpu():
    from groundfm.depth.estimator import default_weights_path

    path = default_weights_path()
    assert path is not None, 'models/stereo_adapter_small/model.safetensors must ship with the repository'
    assert path.stat().st_size < 20e6
    left, right = shifted_pair(6, h=64, w=96)

    disparity, confidence = DepthEstimator('model', iterations=2).disparity(left, right)

    assert disparity.shape == confidence.shape == (64, 96)
    assert np.isfinite(disparity).mean() > 0.5
