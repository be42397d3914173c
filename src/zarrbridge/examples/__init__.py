"""Runnable examples (``python -m zarrbridge.examples.demo OUTDIR``); each imports its host package lazily."""

from __future__ import annotations

__all__: list[str] = []
