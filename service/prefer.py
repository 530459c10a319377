"""The ``Prefer`` request header (RFC 7240) as used by ``POST /inversions``: ``respond-async`` and ``wait=N``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preferences:
    """Parsed preferences; ``applied`` lists the ones the server honours (for ``Preference-Applied``)."""

    respond_async: bool = False
    wait_s: float | None = None


def parse_prefer(values: list[str]) -> Preferences:
    """Parse every ``Prefer`` header value; unknown or malformed preferences are ignored, as RFC 7240 asks."""
    respond_async, wait = False, None
    for value in values:
        for token in value.split(","):
            name, _, arg = token.split(";")[0].strip().partition("=")
            name = name.strip().lower()
            arg = arg.strip().strip('"')
            if name == "respond-async":
                respond_async = True
            elif name == "wait":
                try:
                    seconds = float(arg)
                except ValueError:
                    continue
                if seconds >= 0 and seconds == seconds:  # not NaN
                    wait = seconds
    return Preferences(respond_async=respond_async, wait_s=wait)


def applied_header(prefs: Preferences, wait_used: float | None) -> str | None:
    """``Preference-Applied`` value: the preferences that shaped the answer."""
    parts = []
    if prefs.respond_async:
        parts.append("respond-async")
    if prefs.wait_s is not None and wait_used is not None and not prefs.respond_async:
        parts.append(f"wait={wait_used:g}")
    return ", ".join(parts) or None
