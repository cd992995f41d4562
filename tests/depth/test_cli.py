"""`groundfm depth`: writes the .npy disparity and a coloured .png; refuses bad input with one line."""

import subprocess
import sys

import cv2
import numpy as np
import pytest
from test_estimator import shifted_pair


def _depth(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'groundfm.depth.cli', *args], capture_output=True, text=True,
                          timeout=120)


def test_sgbm_pair_writes_npy_and_png(tmp_path):
    left, right = shifted_pair(9, h=96, w=160)
    cv2.imwrite(str(tmp_path / 'l.png'), left[..., ::-1])
    cv2.imwrite(str(tmp_path / 'r.png'), right[..., ::-1])

    result = _depth(str(tmp_path / 'l.png'), str(tmp_path / 'r.png'), '--backend', 'sgbm', '--max-disp', '32',
                    '-o', str(tmp_path / 'out' / 'pair'))

    assert result.returncode == 0, result.stderr
    disparity = np.load(tmp_path / 'out' / 'pair.npy')
    assert disparity.dtype == np.float32 and disparity.shape == (96, 160)
    assert np.isnan(disparity).any(), 'invalid pixels (left border) must be NaN'
    assert np.nanmedian(disparity[:, 40:-8]) == pytest.approx(9, abs=0.3)
    png = cv2.imread(str(tmp_path / 'out' / 'pair.png'))
    assert png.shape == (96, 160, 3) and png.std() > 0


def test_bad_inputs_fail_with_one_line(tmp_path):
    cv2.imwrite(str(tmp_path / 'a.png'), np.zeros((10, 12, 3), np.uint8))
    cv2.imwrite(str(tmp_path / 'b.png'), np.zeros((10, 14, 3), np.uint8))

    missing = _depth(str(tmp_path / 'nope.png'), str(tmp_path / 'a.png'), '-o', str(tmp_path / 'x'))
    sizes = _depth(str(tmp_path / 'a.png'), str(tmp_path / 'b.png'), '--backend', 'sgbm', '-o', str(tmp_path / 'x'))
    weights = _depth(str(tmp_path / 'a.png'), str(tmp_path / 'a.png'), '--weights', str(tmp_path / 'w.safetensors'),
                     '-o', str(tmp_path / 'x'))

    assert missing.returncode == 2 and 'cannot read image' in missing.stderr
    assert sizes.returncode == 2 and 'equal sizes' in sizes.stderr
    assert weights.returncode == 2 and 'no checkpoint' in weights.stderr
