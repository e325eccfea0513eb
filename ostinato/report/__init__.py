"""`ostinato report`: a static HTML page with charts of an analysed corpus (aggregated in DuckDB)."""

from ostinato.report.page import build_report

__all__ = ["build_report"]
