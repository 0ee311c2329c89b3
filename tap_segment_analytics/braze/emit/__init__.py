"""The Braze streams: records and bookmarks from the plan and the fetched results."""
