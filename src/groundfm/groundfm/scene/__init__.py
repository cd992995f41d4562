"""Scene understanding: the 3D scene graph and 3D-R1 question answering (issue #6). Today: the service client only."""
