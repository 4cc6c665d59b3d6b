"""ccc-conformance: the conformance test suite for CCC online-verification integrations."""

__version__ = "0.1.0"
