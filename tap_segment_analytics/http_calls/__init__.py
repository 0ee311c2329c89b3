"""HTTP calls both sources make alike: one retry loop, answers read whole within the timeout,
connection pools sized for the threads that share them."""
