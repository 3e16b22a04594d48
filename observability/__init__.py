"""Observability: Prometheus metrics at ``/metrics`` and JSON log lines, on every process."""

from .endpoint import METRICS, METRICS_ACCESS, MetricsAccess, SignedInRole, setup_metrics_route
from .live import FrameTotals, LiveCollector, LiveSources, Waiting
from .logs import LOG_FORMATS, SESSION_ID, JsonLines, configure_logging, log_handler
from .metrics import JobMetrics, Metrics

__all__ = [
    "LOG_FORMATS",
    "METRICS",
    "METRICS_ACCESS",
    "SESSION_ID",
    "FrameTotals",
    "JobMetrics",
    "JsonLines",
    "LiveCollector",
    "LiveSources",
    "Metrics",
    "MetricsAccess",
    "SignedInRole",
    "Waiting",
    "configure_logging",
    "log_handler",
    "setup_metrics_route",
]
