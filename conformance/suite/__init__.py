"""The conformance tests, one module per requirement area. See README.md beside this file."""
