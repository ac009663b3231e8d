"""The `report` stage: a self-contained static HTML report of a run directory."""

from drawreason.report.build import ReportConfig, run_report

__all__ = ["ReportConfig", "run_report"]
