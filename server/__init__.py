"""Podium: hybrid events, with remote speakers on the hall's screens and live Q&A."""

__version__ = "0.1.0"
