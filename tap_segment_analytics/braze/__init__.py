"""Braze REST API: segments, their details and their daily size series."""
