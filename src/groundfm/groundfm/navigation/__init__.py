"""Navigation: Nav-R1 fast-in-slow instruction following (issue #7): instructions, planner, local, reasoner, node."""
