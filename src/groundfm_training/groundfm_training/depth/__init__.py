"""StereoAdapter training: the seeded stereo data engine, pretraining, self-supervised adaptation (issue #4)."""
