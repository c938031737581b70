"""The `sage-rapids` command line (installed as `sage_rapids.cli`)."""
