"""Local fake Braze and App Store Connect APIs: the demo's data source and the tests' servers."""
