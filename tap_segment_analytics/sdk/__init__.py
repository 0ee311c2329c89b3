"""The tap's adapter to the singer-sdk: every use of an SDK internal (a private member or module)
lives in this package, each with why no public hook serves; tests/test_sdk_contracts.py tests
the behaviour the tap relies on, so an SDK release that changes it fails there first.

- streams.py: the base of every stream (SCHEMA once, the indexed state manager, the sync timer,
  records written past the SDK's record path), and the one child stream a context goes to.
- state.py: state found in O(1) per partition, STATE on a clock, bookmarks keyed by id.
- tap.py: the Tap's CLI entry holding the tap it makes, and config validation in one line.
"""
