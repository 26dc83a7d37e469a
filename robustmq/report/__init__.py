"""Working with finished runs: merge output folders, regenerate tables and plots, compare two
runs, and measure the paper's findings (the ``robustmq merge/report/compare/findings`` commands);
:mod:`robustmq.report.render` gives the text those commands print.
"""

from robustmq.report.compare import Comparison, Delta, compare_runs
from robustmq.report.findings import FindingRules, FindingsReport, assess_findings
from robustmq.report.loading import ResultsFileError, RunData, load_run, model_values
from robustmq.report.merge import MergeConflictError, MergeResult, merge_runs, write_merged
from robustmq.report.plots import write_plots
from robustmq.report.tables import write_tables

__all__ = [
    "Comparison",
    "Delta",
    "FindingRules",
    "FindingsReport",
    "MergeConflictError",
    "MergeResult",
    "ResultsFileError",
    "RunData",
    "assess_findings",
    "compare_runs",
    "load_run",
    "merge_runs",
    "model_values",
    "write_merged",
    "write_plots",
    "write_tables",
]
