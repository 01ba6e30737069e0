"""The wider model's table specs, gathered from the modules that compute them."""

from __future__ import annotations

from transforms import balance_sheet, correlation, markets

TABLE_SPECS = (*balance_sheet.TABLE_SPECS, *markets.TABLE_SPECS, *correlation.TABLE_SPECS)
