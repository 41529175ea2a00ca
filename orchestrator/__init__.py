"""Controller: pipeline stages, policies, benchmark runner, CLI."""

from __future__ import annotations
