"""App Store Connect Analytics Reports: requests, reports, instances, segments and report rows."""
