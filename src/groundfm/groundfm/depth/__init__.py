"""Stereo depth: StereoAdapter (issue #4). Not landed yet."""
