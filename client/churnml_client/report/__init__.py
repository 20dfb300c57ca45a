"""`churnml report NAME`: one model explained on an HTML page with PNG plots, for Marketing.

    queries.py     the registry rows (churnml.models, churnml.current_deployments), decoded and checked
    plots.py       the PNGs (matplotlib)
    page.py        index.html from templates/report.html (Jinja2, autoescaped)
    write.py       write_report: the numbers, then the plots, then the page
"""

from churnml_client.report.write import write_report

__all__ = ["write_report"]
