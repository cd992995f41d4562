"""Offline training for groundfm's models.

Each capability's training lands with its issue (stereo self-supervision #4, VolSplat #5, SFT/GRPO #6/#7); until
then this package holds only its skeleton. Training imports model code from `groundfm`, never the reverse.
"""
