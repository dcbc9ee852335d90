"""resilience"""

from __future__ import annotations

from .singleflight import SingleFlight

__all__ = ["SingleFlight"]
