"""Control: the VLA-R1 control stack, actions to joint commands (issue #3). Not landed yet."""
