"""Mapping: streaming VolSplat Gaussian map (issue #5). Not landed yet."""
