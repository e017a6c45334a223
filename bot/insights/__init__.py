"""Insights for supervisors (figures from the store, charts) and operational metrics for Prometheus."""
