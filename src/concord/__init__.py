"""Concord: multi-agency border security coordination."""

__version__ = "0.1.0"
