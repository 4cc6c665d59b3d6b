"""Run reports: report.json and its renderings (HTML, JUnit, HAR, Allure extras), the signed bundle
manifest, and the offline commands over run folders (verify, diff, re-render). See render.py."""
