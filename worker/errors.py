"""Exceptions the worker's own modules raise to each other (never seen by clients)."""

from __future__ import annotations


class EvaluationStopped(Exception):
    """The engine stopped between two batch chunks because the job was canceled or ran past its deadline."""
