"""Delivery tooling: how branches map to environments (GitHub Actions), preview environments, the drift report.

Plain Python run from the repository root (``python -m delivery.<module>``), like ``lab``; not part of the collection.
"""
