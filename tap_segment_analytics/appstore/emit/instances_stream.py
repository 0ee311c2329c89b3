"""Report instances: one state partition per app, report name and granularity, whatever request
the instances come from. The partition's plan (partition_plan.py) decides which instances a run
applies, in which order, and owns the bookmark: it moves past an instance once the SDK has
emitted the instance's segments, rows and record."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from typing_extensions import override

from tap_segment_analytics.appstore.emit.base import AppStoreStream
from tap_segment_analytics.appstore.emit.reports_stream import Reports
from tap_segment_analytics.appstore.plan.partition_plan import instance_context
from tap_segment_analytics.sdk.streams import ChildPerContext

# The streams an instance's context goes to, in this order: its segments (and through them its
# rows), then its dates, which count the rows just emitted.
SEGMENTS = "appstore_report_segments"
DATES = "appstore_report_dates"


class ReportInstances(AppStoreStream, ChildPerContext):
    """Report instances, oldest processing date first; later runs read only the new ones."""

    name = "appstore_report_instances"
    primary_keys = ("id",)
    replication_key = "processing_date"
    parent_stream_type = Reports
    state_partitioning_keys = ("app_id", "report_name", "granularity")

    @property
    @override
    def is_sorted(self) -> bool:
        """Instances come in plan order, so the bookmark is resumable mid-partition."""
        return True

    @property
    @override
    def check_sorted(self) -> bool:
        """The bookmark is the partition plan's (`Position`): a backfill goes back in
        processing dates, which the SDK's own progress marker must not refuse."""
        return False

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The instances the partition's plan applies, in order; its bookmark moves past each
        once the SDK asks for the next (it has emitted this one's segments, rows and record)."""
        batch_config = self.run_batch_config()
        if batch_config is not None:
            # Made at the run's first partition, not at its first file: the folders of earlier
            # runs go even when this run writes none (batch_files.py).
            state = self.runtime.plan.bookmarks.stream_state()
            self.runtime.batch_run(batch_config.storage, state)
        app = self.runtime.plan.app(context["app_id"])
        partition = app.partition(context)
        listing = self.runtime.fetch(context["app_id"]).instances(partition)
        instances = partition.begin(listing, self.runtime.plan.today())
        for instance in self.runtime.progress.instances(instances):
            yield instance
            partition.applied(instance, whole=app.complete(instance["id"]))
            self.runtime.state_writer.write_state(self.tap_state)
        if partition.finished():
            self.runtime.state_writer.write_state(self.tap_state)

    @override
    def get_child_context(self, record: dict, context: Any) -> dict[str, Any]:
        """The instance whose segments to read."""
        return instance_context(record)

    @override
    def children_for(self, child_context: Mapping[str, Any]) -> tuple[str, ...]:
        """Segments first, then dates, whatever order the streams are listed in."""
        return (SEGMENTS, DATES)
