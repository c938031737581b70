"""Shipped YAML configs; `default.yaml` is what `sage-rapids run` runs with no --config."""
