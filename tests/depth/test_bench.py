"""groundfm bench depth: the Motorcycle pair's preparation and the sim summary's keys."""

import numpy as np

from groundfm.bench.depth import motorcycle, summarise_views


def test_half_size_images_are_the_2x2_blocks_the_ground_truth_was_pooled_from():
    left_full, _, gt_full, _ = motorcycle('full')
    left, right, gt, ndisp = motorcycle('half')
    h, w = gt.shape
    assert left.shape == right.shape == (h, w, 3) and (h, w) == (gt_full.shape[0] // 2, gt_full.shape[1] // 2)
    blocks = left_full[:2 * h, :2 * w].astype(np.float32).reshape(h, 2, w, 2, 3).mean(axis=(1, 3))
    assert np.abs(left.astype(np.float32) - blocks).max() <= 1.0  # area averaging, rounded to uint8
    assert ndisp >= np.nanmax(gt)


def test_sim_summary_names_bad2_as_bad2_all_and_takes_the_median_time():
    rows = [{'epe': 1.0, 'bad1': 0.5, 'bad2': 0.2, 'bad3': 0.1, 'absrel': 0.05, 'density': 1.0, 'ms': 900.0},
            {'epe': 3.0, 'bad1': 0.7, 'bad2': 0.4, 'bad3': 0.3, 'absrel': 0.15, 'density': 0.8, 'ms': 100.0},
            {'epe': 2.0, 'bad1': 0.6, 'bad2': 0.3, 'bad3': 0.2, 'absrel': 0.10, 'density': 0.9, 'ms': 110.0}]
    summary = summarise_views(rows)
    assert set(summary) == {'epe', 'bad1', 'bad2_all', 'bad3', 'absrel', 'density', 'ms'}
    assert abs(summary['bad2_all'] - 0.3) < 1e-12
    assert summary['ms'] == 110.0  # the cold first call (900 ms) does not set the time
    assert abs(summary['epe'] - 2.0) < 1e-12
