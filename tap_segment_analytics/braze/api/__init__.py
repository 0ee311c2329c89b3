"""Braze's REST API: where it is, how it is called and how its answers are read."""
