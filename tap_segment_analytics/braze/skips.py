"""The segments a run skips: those Braze refused, counted by Braze's reason (one WARNING a
stream), and those deleted since they were listed (one WARNING each).

A segment Braze refuses (an error answer about it, see api/client.py) is skipped for the run and
asked again on the next; a line per segment would bury the log of a workspace where Braze refuses
hundreds alike, so each refusal is logged at DEBUG and the run ends with one line a stream.
"""

from __future__ import annotations

from collections import defaultdict


class SegmentRefusals:
    """Refused segments by stream and reason (only the sync's thread adds to it)."""

    def __init__(self) -> None:
        self._by_stream: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        self._said: dict[str, tuple[str, str]] = {}

    def add(self, stream: str, segment_id: str, reason: str, *, what: str, kept: str) -> None:
        """Braze refused `what` of a segment (e.g. "size series") for `reason`; `kept` says
        what the skipped segment keeps (e.g. "the days received before"), or is empty."""
        self._said[stream] = (what, kept)
        self._by_stream[stream][reason].append(segment_id)

    def lines(self) -> list[str]:
        """One line a stream that had refusals: how many segments, and why (most common first)."""
        lines = []
        for stream, reasons in sorted(self._by_stream.items()):
            count = sum(len(ids) for ids in reasons.values())
            why = "; ".join(
                f"{reason} ({len(ids)})"
                for reason, ids in sorted(
                    reasons.items(), key=lambda item: (-len(item[1]), item[0])
                )
            )
            what, kept = self._said[stream]
            lines.append(
                f"{stream}: Braze refused the {what} of {count} "
                f"segment{'' if count == 1 else 's'}, skipped for this run and asked again on "
                f"the next{f' (each keeps {kept})' if kept else ''}: {why}"
            )
        return lines


class DeletedSegments:
    """The segments the run found deleted in Braze since they were listed (only the sync's
    thread adds to it)."""

    def __init__(self) -> None:
        self._ids: set[str] = set()

    def first_deletion(self, segment_id: str) -> bool:
        """Whether this is the first time the run finds the segment deleted (one WARNING a
        segment, whichever of its streams finds it)."""
        if segment_id in self._ids:
            return False
        self._ids.add(segment_id)
        return True
