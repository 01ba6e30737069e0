"""Which published table is built from which series, and how: the wiring between the
registry's series and the pure transforms. Every builder takes `Inputs` and returns a frame
in its table's catalog schema."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from flows.registry import Registry, SeriesSpec
from transforms import balance_sheet, correlation, forward_returns, markets, observations, variants
from transforms.liquidity import BN_DECIMALS, in_billions, net_liquidity_daily, net_liquidity_weekly
from transforms.prices import asset_prices_daily

ROLES = ("fed_assets", "tga", "rrp")


@dataclass(frozen=True)
class Inputs:
    registry: Registry
    # registry key → the observations as known (obs_date, value, ..., known_at_utc: when each
    # became public; see transforms.known), None when unavailable
    series: dict[str, pl.DataFrame | None]
    clock: dt.date
    # registry key → every stored row known by the clock, oldest first per observation, with
    # row_known_at_utc (transforms.known.known_rows): what a value was when first published
    history: dict[str, pl.DataFrame] = field(default_factory=dict)

    def values(self, key: str) -> pl.DataFrame | None:
        """`date`, `value` of one series: billions of USD where the registry gives a factor
        (`to_bn`), native units otherwise; None when the series is unavailable."""
        frame = self.series.get(key)
        if frame is None or frame.height == 0:
            return None
        spec = self.registry.get(key)
        if spec.to_bn is not None:
            return in_billions(frame, spec.to_bn).rename({"value_bn": "value"})
        return frame.select(pl.col("obs_date").alias("date"), "value").sort("date")

    def named(self, name: str) -> pl.DataFrame | None:
        """`values` of the series with this registry name."""
        return self.values(self.registry.named(name).key)

    def role(self, role: str) -> pl.DataFrame:
        frame = self.values(self.registry.role(role).key)
        assert frame is not None
        return frame.rename({"value": "value_bn"})

    def first_released(self, key: str) -> pl.DataFrame:
        """`date`, `value` (units as in `values`), `known_at_utc` of each observation as first
        published: its first stored row, never a later revision. A ValueError when the run
        passed no history for the series."""
        rows = self.history.get(key)
        if rows is None or rows.height == 0:
            raise ValueError(f"series {key}: no stored rows in the run's history (first published values needed)")
        first = rows.group_by("obs_date", maintain_order=True).first().sort("obs_date")
        spec = self.registry.get(key)
        value = (pl.col("value") * spec.to_bn).round(BN_DECIMALS) if spec.to_bn is not None else pl.col("value")
        return first.select(pl.col("obs_date").alias("date"), value.alias("value"),
                            pl.col("row_known_at_utc").cast(pl.Datetime("us")).alias("known_at_utc"))

    def known(self, key: str) -> pl.DataFrame | None:
        """`values` with `known_at_utc`, when each observation became public."""
        frame = self.values(key)
        if frame is None:
            return None
        stored = self.series[key]
        assert stored is not None
        return frame.join(stored.select(pl.col("obs_date").alias("date"), "known_at_utc"), on="date", how="left")


@dataclass(frozen=True)
class Builder:
    build: Callable[[Inputs], pl.DataFrame]
    required: Callable[[Registry], tuple[str, ...]]
    optional: Callable[[Registry], tuple[str, ...]] = lambda registry: ()


def _core(registry: Registry) -> tuple[str, ...]:
    return tuple(registry.role(r).key for r in ROLES)


def _weekly(inputs: Inputs) -> pl.DataFrame:
    return net_liquidity_weekly(
        inputs.role("fed_assets"), inputs.role("tga"), inputs.role("rrp"),
        rrp_lookback_days=inputs.registry.role("rrp").max_age_days,
    )


def _daily(inputs: Inputs) -> pl.DataFrame:
    registry = inputs.registry
    return net_liquidity_daily(
        {r: inputs.known(registry.role(r).key).rename({"value": "value_bn"}) for r in ROLES},  # type: ignore[union-attr]
        max_age_days={r: registry.role(r).max_age_days for r in ROLES},
        through=inputs.clock,
    )


def _asset_prices(inputs: Inputs) -> pl.DataFrame:
    fx = {
        currency: rates
        for currency, spec in inputs.registry.fx().items()
        if (rates := inputs.values(spec.key)) is not None
    }
    # an asset is published when its closes and (if not in USD) its USD rate are available
    assets = [
        s for s in inputs.registry.assets()
        if inputs.values(s.key) is not None and (s.currency == "USD" or s.currency in fx)
    ]
    closes = pl.concat([
        inputs.values(s.key).select(pl.lit(s.key).alias("series_id"), pl.col("date").alias("obs_date"), "value")  # type: ignore[union-attr]
        for s in assets
    ])
    return asset_prices_daily(
        closes,
        pl.DataFrame({"series_id": [s.key for s in assets], "asset": [s.name for s in assets],
                      "currency": [s.currency for s in assets]}),
        {c: fx[c] for c in {s.currency for s in assets} - {"USD"} if c in fx},
    )


def _asset_keys(registry: Registry) -> tuple[str, ...]:
    return tuple(s.key for s in registry.assets())


def _net_weekly(inputs: Inputs) -> pl.DataFrame:
    return _weekly(inputs).select("date", pl.col("net_liquidity_bn").alias("value"))


def _names_to_keys(*names: str) -> Callable[[Registry], tuple[str, ...]]:
    return lambda registry: tuple(registry.named(n).key for n in names)


def _closes(inputs: Inputs) -> dict[str, pl.DataFrame | None]:
    return {name: inputs.named(name) for name in correlation.ASSETS}


def _gold_daily(inputs: Inputs) -> pl.DataFrame:
    registry = inputs.registry
    return markets.gold_daily(
        inputs.named("gold"), inputs.named("cpi"),
        inputs.named("gld_shares_outstanding"), inputs.named("foreign_official_treasuries"),
        cpi_publication_lag_days=registry.named("cpi").publication_lag_days,
        foreign_official_treasuries_lag_days=registry.named("foreign_official_treasuries").publication_lag_days,
        known_at={column: frame for column, name in (("cpi_index", "cpi"),
                                                      ("foreign_official_treasuries_bn", "foreign_official_treasuries"))
                  if (frame := inputs.known(registry.named(name).key)) is not None},
    )


def _gold_real(inputs: Inputs) -> pl.DataFrame:
    registry = inputs.registry
    names = {"gold_monthly_average_usd_per_oz": "gold_monthly_average", "gold_usd_per_oz": "gold", "cpi_index": "cpi"}
    return markets.gold_real_monthly(
        inputs.named("gold_monthly_average"), inputs.named("gold"), inputs.named("cpi"),
        known_at={column: frame for column, name in names.items()
                  if (frame := inputs.known(registry.named(name).key)) is not None},
    )


def _ratios(inputs: Inputs) -> pl.DataFrame:
    # a BTC-JPY series replaces BTC-USD × USD/JPY when present; its absence is not staleness
    return markets.asset_ratios_daily(*(inputs.named(n) for n in _RATIO_INPUTS), btc_jpy=inputs.named("bitcoin_jpy"))


_RATIO_INPUTS = ("bitcoin", "gold", "nasdaq_100", "mstr", "metaplanet", "usd_jpy")


def _performance(inputs: Inputs) -> pl.DataFrame:
    values = {name: inputs.named(name) for name in markets.PERFORMANCE_ASSETS if name != "net_liquidity"}
    values["net_liquidity"] = _daily(inputs).select("date", pl.col("net_liquidity_bn").alias("value"))
    return markets.performance_daily(values)


def _balance_sheet(inputs: Inputs) -> pl.DataFrame:
    return balance_sheet.fed_balance_sheet_weekly(
        inputs.role("fed_assets").rename({"value_bn": "value"}),
        inputs.named("reserves"), inputs.named("treasuries"), inputs.named("mbs"), inputs.named("standing_repo"),
        standing_repo_lookback_days=inputs.registry.named("standing_repo").max_age_days,
    )


def _variants(inputs: Inputs) -> pl.DataFrame:
    """net_liquidity_variants_daily: the registry's [variants], each term a series in bn."""
    registry = inputs.registry
    if not registry.variants:
        return pl.DataFrame(schema=variants.NET_LIQUIDITY_VARIANTS_DAILY.schema)
    terms = {}
    for key in _variant_terms(registry):
        spec, known = registry.get(key), inputs.known(key)
        terms[key] = variants.TermInput(key=key, name=spec.name, max_age_days=spec.max_age_days,
                                        overnight=key in registry.overnight,
                                        values=None if known is None else known.rename({"value": "value_bn"}))
    return variants.net_liquidity_variants_daily(list(registry.variants.values()), terms,
                                                 reference=str(registry.reference_variant), through=inputs.clock)


def _variant_terms(registry: Registry, reference: bool | None = None) -> tuple[str, ...]:
    """The series the variants read: all, the reference's (True) or only the others' (False)."""
    ref = {k for k, _ in registry.variants[registry.reference_variant].terms} if registry.variants else set()
    keys = dict.fromkeys(k for v in registry.variants.values() for k, _ in v.terms)
    return tuple(k for k in keys if reference is None or (k in ref) == reference)


def _observations(inputs: Inputs) -> pl.DataFrame:
    """series_observations: every stored series, from the rows as known (Inputs.series)."""
    present = {k: f for k, f in inputs.series.items() if f is not None and f.height}
    return observations_of(present, {k: inputs.registry.get(k) for k in present})


def observations_of(current: dict[str, pl.DataFrame], specs: dict[str, SeriesSpec]) -> pl.DataFrame:
    """series_observations of the series in `current` (each one's rows as known, the newest
    value per observation), described by their registry entries in `specs`."""
    stored = [f.with_columns(pl.lit(k).alias("series_id")).select(observations.STORED_SCHEMA.keys())
              .cast(observations.STORED_SCHEMA) for k, f in current.items()]
    entries = [specs[k] for k in current]
    series = pl.DataFrame({"series_id": [s.key for s in entries], "series_name": [s.name for s in entries],
                           "native_units": [s.native_units for s in entries], "to_bn": [s.to_bn for s in entries],
                           "source": [s.provider for s in entries], "source_id": [s.id for s in entries]},
                          schema=observations.SERIES_SCHEMA)
    return observations.series_observations(
        pl.concat(stored) if stored else pl.DataFrame(schema=observations.STORED_SCHEMA), series)


def _forward_returns(inputs: Inputs) -> pl.DataFrame:
    """liquidity_forward_returns: the regime point in time (net_liquidity_daily built from each
    term's first published values) and current vintage (liquidity_regime_weekly), against the
    assets' closes with when each became known."""
    registry = inputs.registry
    first = {r: inputs.first_released(registry.role(r).key).rename({"value": "value_bn"}) for r in ROLES}
    daily = net_liquidity_daily(first, max_age_days={r: registry.role(r).max_age_days for r in ROLES},
                                through=inputs.clock)
    closes = {name: inputs.known(registry.named(name).key) for name in correlation.ASSETS}
    return forward_returns.liquidity_forward_returns(balance_sheet.liquidity_regime_weekly(_net_weekly(inputs)),
                                                     daily, closes, clock=inputs.clock)


BUILDERS: dict[str, Builder] = {
    "net_liquidity_weekly": Builder(_weekly, _core),
    "net_liquidity_daily": Builder(_daily, _core),
    "asset_prices_daily": Builder(
        _asset_prices,
        lambda r: (r.assets()[0].key,),
        lambda r: _asset_keys(r)[1:] + tuple(s.key for s in r.fx().values()),
    ),
    "liquidity_asset_correlation_weekly": Builder(
        lambda i: correlation.liquidity_asset_correlation_weekly(_net_weekly(i), _closes(i)),
        _core, _names_to_keys(*correlation.ASSETS),
    ),
    "liquidity_asset_lead_lag": Builder(
        lambda i: correlation.liquidity_asset_lead_lag(_net_weekly(i), _closes(i)),
        _core, _names_to_keys(*correlation.ASSETS),
    ),
    "gold_daily": Builder(_gold_daily, _names_to_keys("gold", "cpi"),
                          _names_to_keys("gld_shares_outstanding", "foreign_official_treasuries")),
    "gold_cpi_monthly": Builder(lambda i: markets.gold_cpi_monthly(i.named("gold"), i.named("cpi")),
                                _names_to_keys("gold", "cpi")),
    # the long monthly history prices the months before GC=F; without it they have no gold
    "gold_real_monthly": Builder(_gold_real, _names_to_keys("gold", "cpi"), _names_to_keys("gold_monthly_average")),
    "asset_ratios_daily": Builder(_ratios, _names_to_keys(*_RATIO_INPUTS)),
    "performance_daily": Builder(
        _performance, _core,
        _names_to_keys(*(n for n in markets.PERFORMANCE_ASSETS if n != "net_liquidity")),
    ),
    "fed_balance_sheet_weekly": Builder(
        _balance_sheet, lambda r: (r.role("fed_assets").key, *_names_to_keys("reserves", "treasuries", "mbs")(r)),
        _names_to_keys("standing_repo"),
    ),
    "bank_credit_weekly": Builder(
        lambda i: balance_sheet.bank_credit_weekly(i.named("bank_credit"), i.named("loans_leases"),
                                                   i.named("other_deposits")),
        _names_to_keys("bank_credit"), _names_to_keys("loans_leases", "other_deposits"),
    ),
    "mortgage_rate_weekly": Builder(
        lambda i: balance_sheet.mortgage_rate_weekly(i.named("mortgage_rate_30y"), i.named("treasury_10y")),
        _names_to_keys("mortgage_rate_30y", "treasury_10y"),
    ),
    "liquidity_regime_weekly": Builder(lambda i: balance_sheet.liquidity_regime_weekly(_net_weekly(i)), _core),
    "liquidity_forward_returns": Builder(_forward_returns, _core, _names_to_keys(*correlation.ASSETS)),
    # the reference variant's terms are required; a variant whose terms are missing is published unavailable
    "net_liquidity_variants_daily": Builder(_variants, lambda r: _variant_terms(r, True), lambda r: _variant_terms(r, False)),
    # every series the run reads, as the warehouse holds it: one never stored has no rows (the catalog says why)
    "series_observations": Builder(_observations, lambda r: (), lambda r: tuple(s.key for s in r.used())),
}
