"""Braze REST API: segments, their details and their daily size series, read in four stages.

- api/: the client that speaks Braze's REST API and returns plain values (endpoint, answers,
  rate gate);
- plan/: what a run reads, made from the client's answers before any stream emits (the listed
  segments, each one's details call and size windows from its bookmark);
- fetch/: the plan's calls made ahead of the sync, results taken in the plan's order;
- emit/: the SDK streams, turning the plan and the fetched results into records and bookmarks;
- runtime.py: what a run of the source shares, wiring the four together.
"""
