"""Navigation: Nav-R1 fast-in-slow instruction following (issue #7). Today: the action client only."""
