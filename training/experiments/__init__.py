"""Offline experiments (opt-in, never part of the default test run): data generators and runners."""
