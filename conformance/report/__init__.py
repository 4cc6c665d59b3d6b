"""Run reports: report.json, report.html, and the bundle manifest."""
