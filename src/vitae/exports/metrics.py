"""Prometheus metrics of the export pipeline. Labels are bounded: statuses and stages, no ids."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_SECONDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

EXPORTS_REQUESTED = Counter(
    "vitae_exports_requested_total", "Exports accepted by the API", ["watermarked"]
)
EXPORTS_FINISHED = Counter(
    "vitae_exports_finished_total", "Exports that reached a final status", ["status"]
)
JOB_RETRIES = Counter(
    "vitae_export_job_retries_total", "Render attempts that failed and were retried"
)
JOBS_IN_FLIGHT = Gauge("vitae_export_jobs_in_flight", "Render jobs running in this worker")
QUEUE_DEPTH = Gauge("vitae_export_queue_depth", "Jobs waiting in the export queue", ["state"])
TIME_IN_QUEUE = Histogram(
    "vitae_export_queue_seconds", "From request to the start of the first attempt", buckets=_SECONDS
)
RENDER_TIME = Histogram("vitae_export_render_seconds", "Typst compile time", buckets=_SECONDS)
STORE_TIME = Histogram("vitae_export_store_seconds", "Storage upload time", buckets=_SECONDS)
TOTAL_TIME = Histogram(
    "vitae_export_total_seconds", "From request to completed, per export", buckets=_SECONDS
)
