"""The wider model's table specs, gathered from the modules that compute them."""

from __future__ import annotations

TABLE_SPECS: tuple = ()
