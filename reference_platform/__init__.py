"""The embedded reference platform: a conformant platform-side integration, run as its own process.

It shares nothing with the harness but ``specs/`` files and HTTP.
"""

__version__ = "0.1.0"
