"""Net liquidity by formula: every registered variant (Hayes' 2022 definition, his Bloomberg
formula with the standing repo facility, a daily-TGA version, …) day by day, side by side.

The formulas are data (flows/series.toml, `[variants]`); this module only evaluates them.
Pure polars: frames in, frames out. Each term is a registry series in billions of USD
(`date`, `value_bn`, `known_at_utc`: when the observation became public, see
transforms.known), availability-aligned like `transforms.liquidity.net_liquidity_daily`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from transforms.align import as_of
from transforms.known import UTC_TIME, with_known_on
from transforms.spec import Column, TableSpec

TABLE = "net_liquidity_variants_daily"
BN_DECIMALS = 9

# The series a variant's terms may use, by registry name: each has its own column pair
# (`<name>_bn`, `<name>_obs_date`) so the table's schema does not change with the formulas.
TERM_NAMES: dict[str, str] = {
    "fed_assets": "Fed total assets (WALCL), Wednesday level",
    "tga": "Treasury General Account, week average (WTREGEN)",
    "tga_wednesday": "Treasury General Account, Wednesday level (WDTGAL)",
    "tga_daily_close": "Treasury General Account, daily close from the Daily Treasury Statement (DTS-TGA)",
    "rrp": "overnight reverse repo outstanding (RRPONTSYD)",
    "standing_repo": "standing repo facility outstanding (RPONTSYD)",
}


@dataclass(frozen=True)
class Variant:
    """One formula: net liquidity = Σ sign · term, each term a registry series."""

    name: str
    terms: tuple[tuple[str, int], ...]  # (registry key, +1 or −1), in the order the formula is written
    since: dt.date  # when its author first published it
    source: str  # where
    description: str

    def formula(self) -> str:
        """The formula as text, e.g. "WALCL − RRPONTSYD − WTREGEN"."""
        parts = []
        for i, (key, sign) in enumerate(self.terms):
            op = ("" if sign > 0 else "−") if i == 0 else (" + " if sign > 0 else " − ")
            parts.append(f"{op}{key}")
        return "".join(parts)


@dataclass(frozen=True)
class TermInput:
    """A term's series and its carry rule."""

    key: str  # registry key
    name: str  # registry name: its columns are `<name>_bn`, `<name>_obs_date`
    max_age_days: int  # carried at most this many days after its observation date
    # an overnight facility: no row on days without an operation; such a day inside the
    # carry window has nothing outstanding (0 by rule, obs_date null)
    overnight: bool
    values: pl.DataFrame | None  # date, value_bn, known_at_utc; None = no observations this run


def net_liquidity_variants_daily(
    variants: Sequence[Variant],
    terms: Mapping[str, TermInput],
    *,
    reference: str,
    through: dt.date,
) -> pl.DataFrame:
    """One row per variant per calendar day, billions of USD.

    Rows run from the first day on which some variant has every term public through
    `through` (the run's clock), for every variant on every day. Each term enters on the
    New York date it became public (`known_at_utc`) and is carried for at most its
    `max_age_days` after its observation date; an overnight facility on a day without an
    operation inside that window is 0 (nothing outstanding), as in net_liquidity_daily.
    A day on which a term has no public observation yet, is older than its limit, or has
    no data at all this run (or, for an overnight facility, lies past the series' last
    operation by more than the window: the feed ended, which is not taken as 0) makes the
    variant unavailable that day: `net_liquidity_bn` null, `is_available` false and
    `unavailable_reason` naming the term and why. Nothing is filled with zero.

    `difference_to_reference_bn` = this variant − `reference` on the same day (null
    when either is unavailable). `known_at_utc` is when the newest value the row shows
    became public.
    """
    names = {v.name for v in variants}
    if reference not in names:
        raise ValueError(f"{TABLE}: reference variant {reference!r} is not among the variants {sorted(names)}")
    used = dict.fromkeys(key for v in variants for key, _ in v.terms)
    missing = [k for k in used if k not in terms]
    if missing:
        raise ValueError(f"{TABLE}: no input for term(s) {', '.join(missing)}")
    for key in used:
        if terms[key].name not in TERM_NAMES:
            raise ValueError(f"{TABLE}: term {key} ({terms[key].name}) has no column; terms may be {', '.join(TERM_NAMES)}")
    known = {key: _known(terms[key]) for key in used}
    starts = [max(known[k]["_known_on"].min() for k, _ in v.terms)  # type: ignore[type-var]
              for v in variants if all(known[k] is not None and known[k].height for k, _ in v.terms)]
    if not starts:
        raise ValueError(f"{TABLE}: no variant has observations for every term")
    days = pl.DataFrame({"date": pl.date_range(min(starts), through, interval="1d", eager=True)})
    aligned = {key: _aligned(days, terms[key], known[key]) for key in used}
    frames = [_variant_rows(days, v, {k: (terms[k], aligned[k]) for k, _ in v.terms}) for v in variants]
    out = pl.concat(frames)
    ref = out.filter(pl.col("variant") == reference).select("date", pl.col("net_liquidity_bn").alias("_ref"))
    out = out.join(ref, on="date", how="left").with_columns(
        (pl.col("net_liquidity_bn") - pl.col("_ref")).round(BN_DECIMALS).alias("difference_to_reference_bn"),
        pl.lit(reference).alias("reference_variant"),
    )
    return out.select(NET_LIQUIDITY_VARIANTS_DAILY.schema.names()).cast(dict(NET_LIQUIDITY_VARIANTS_DAILY.schema)
                                                                         ).sort("variant", "date")


def _known(term: TermInput) -> pl.DataFrame | None:
    """The term's observations with a number, with `_known_on` (the New York date each
    became public); None when the series has no observations this run."""
    if term.values is None:
        return None
    frame = term.values.filter(pl.col("value_bn").is_not_null())
    if frame.height == 0:
        return None
    if frame["date"].is_duplicated().any():
        raise ValueError(f"{TABLE}: input {term.key} has duplicate dates")
    return with_known_on(TABLE, term.key, frame.rename({"value_bn": "value"}))


def _aligned(days: pl.DataFrame, term: TermInput, known: pl.DataFrame | None) -> pl.DataFrame:
    """Per day: the term's value, observation date, when it became public, and why it is
    missing (null when it is there)."""
    label = f"{term.key} ({term.name})"
    if known is None:
        return days.with_columns(
            pl.lit(None, pl.Float64).alias("value"), pl.lit(None, pl.Date).alias("obs_date"),
            pl.lit(None, UTC_TIME).alias("known_at_utc"),
            pl.lit(f"{label}: no observations in this run (the series is unavailable; the catalog's "
                   f"stale_reason says why)").alias("reason"),
        )
    last_obs = known["date"].max()
    out = as_of(days, known, value="value", obs_date="obs_date", extra={"known_at_utc": "known_at_utc"})
    age = (pl.col("date") - pl.col("obs_date")).dt.total_days()
    too_old = age > term.max_age_days
    never_yet = pl.col("obs_date").is_null()
    # an overnight facility between two operations more than the window apart: nothing outstanding
    zero_by_rule = too_old & (pl.col("obs_date") < last_obs) if term.overnight else pl.lit(False)
    reason = (
        pl.when(never_yet).then(pl.lit(f"{label}: no observation public yet"))
        .when(zero_by_rule).then(None)
        .when(too_old & pl.lit(term.overnight)).then(pl.format(
            f"{label}: no operation after {{}} (the series ends there, {{}} days before this day; "
            f"not taken as 0 beyond its {term.max_age_days}-day window)", pl.col("obs_date"), age))
        .when(too_old).then(pl.format(
            f"{label}: newest public observation {{}} is {{}} days old, beyond its {term.max_age_days}-day carry limit",
            pl.col("obs_date"), age))
    )
    keep = ~(never_yet | too_old)
    return out.with_columns(reason.alias("reason")).with_columns(
        pl.when(keep).then(pl.col("value")).when(zero_by_rule).then(0.0).alias("value"),
        pl.when(keep).then(pl.col("obs_date")).alias("obs_date"),
        pl.when(keep).then(pl.col("known_at_utc")).alias("known_at_utc"),
    )


def _variant_rows(days: pl.DataFrame, variant: Variant,
                  terms: dict[str, tuple[TermInput, pl.DataFrame]]) -> pl.DataFrame:
    out = days
    for key, (term, aligned) in terms.items():
        out = out.join(aligned.select("date", pl.col("value").alias(f"{term.name}_bn"),
                                      pl.col("obs_date").alias(f"{term.name}_obs_date"),
                                      pl.col("known_at_utc").alias(f"_known_{key}"),
                                      pl.col("reason").alias(f"_reason_{key}")),
                       on="date", how="left")
    used = {term.name for term, _ in terms.values()}
    reasons = [pl.col(f"_reason_{key}") for key in terms]
    available = pl.all_horizontal(r.is_null() for r in reasons)
    net = pl.sum_horizontal(pl.col(f"{terms[key][0].name}_bn") * sign for key, sign in variant.terms)
    reason = pl.concat_str(reasons, separator="; ", ignore_nulls=True)
    return out.with_columns(
        pl.lit(variant.name).alias("variant"),
        pl.when(available).then(net.round(BN_DECIMALS)).alias("net_liquidity_bn"),
        available.alias("is_available"),
        pl.when(~available).then(reason).alias("unavailable_reason"),
        pl.lit(variant.formula()).alias("formula"),
        pl.lit(variant.since).alias("variant_since"),
        pl.max_horizontal(pl.col(f"_known_{key}") for key in terms).alias("known_at_utc"),
        *(pl.lit(None, pl.Float64).alias(f"{n}_bn") for n in TERM_NAMES if n not in used),
        *(pl.lit(None, pl.Date).alias(f"{n}_obs_date") for n in TERM_NAMES if n not in used),
    ).select(c for c in NET_LIQUIDITY_VARIANTS_DAILY.columns if c not in _AGAINST_REFERENCE)


_AGAINST_REFERENCE = ("difference_to_reference_bn", "reference_variant")


# ---------------------------------------------------------------- data dictionary

NET_LIQUIDITY_VARIANTS_DAILY = TableSpec(
    name=TABLE,
    grain="one row per net-liquidity variant per calendar day",
    description=(
        "USD net liquidity by formula, side by side: each variant registered in flows/series.toml [variants] "
        "(hayes_2022: Fed assets − reverse repo − TGA; hayes_bloomberg: plus the standing repo facility; "
        "daily_tga: the Daily Treasury Statement's TGA), as known at the end of each calendar day (New York), "
        "billions of USD. Each term enters on the day it became public and is carried for at most its series' "
        "max_age_days; an overnight facility without an operation in that window is 0 (nothing outstanding). "
        "Every variant has a row on every day: where a term is not yet public, too old, or has no data this run, "
        "net_liquidity_bn is null, is_available false and unavailable_reason says which term and why (never a 0). "
        "Pick a formula by name: WHERE variant = 'hayes_2022'. difference_to_reference_bn shows how far apart they are."
    ),
    key=("variant", "date"),
    columns={
        "variant": Column(pl.String(), "variant name from the registry ([variants.<name>])"),
        "date": Column(pl.Date(), "calendar day (end of day, New York)"),
        "net_liquidity_bn": Column(pl.Float64(), "Σ sign · term over the variant's terms, billions USD; null when unavailable"),
        "is_available": Column(pl.Boolean(), "true when every term of the variant has a value this day"),
        "unavailable_reason": Column(pl.String(), "which terms are missing this day and why; null when available"),
        "difference_to_reference_bn": Column(
            pl.Float64(), "net_liquidity_bn − the reference variant's on the same day, billions USD; null when either is unavailable"),
        "reference_variant": Column(pl.String(), "the variant difference_to_reference_bn is measured against ([variants].reference)"),
        "formula": Column(pl.String(), "the variant's terms with their signs, as registry series ids"),
        "variant_since": Column(pl.Date(), "when the formula's author first published it; earlier rows apply it to earlier data"),
        "known_at_utc": Column(pl.Datetime("us"), "when the newest value this row shows became public, UTC; null when it shows none"),
        **{
            col: Column(dtype, text)
            for name, what in TERM_NAMES.items()
            for col, dtype, text in (
                (f"{name}_bn", pl.Float64(),
                 f"{what} known that day, billions USD, before its sign; null when the variant does not use it or it is "
                 f"missing this day (0 for an overnight facility without an operation in its window)"),
                (f"{name}_obs_date", pl.Date(),
                 f"observation date of {name}_bn; null when {name}_bn is null or 0 by the overnight rule"),
            )
        },
    },
)

TABLE_SPECS: tuple[TableSpec, ...] = (NET_LIQUIDITY_VARIANTS_DAILY,)
