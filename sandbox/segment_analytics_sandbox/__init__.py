"""The tap's sandbox and tools, kept out of the tap's wheel: local fake Braze and App Store
Connect APIs (the demo's data source and the tests' servers), a fault-injecting HTTP server, a
throwaway PostgreSQL, the demo runner and its CLI `tap-segment-analytics-sandbox`, and the
generators of the checkout's derived files."""
