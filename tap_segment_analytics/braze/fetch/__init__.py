"""The Braze plan's calls made ahead of the sync."""
