"""What a Braze run reads, and in which order: plain Python, no SDK, no stream."""
