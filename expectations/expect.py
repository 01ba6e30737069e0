"""Declared expectations that do not import Great Expectations.

The suites write `gxe.ExpectColumnValuesToBeBetween(column=..., max_value=...)` with
`from expectations import expect as gxe`: each name gives a frozen `Expectation` (GE's class
name and its keyword arguments). The gate builds the real GE expectation only when it must
run GE (`Expectation.to_ge`), so a run whose every suite is served from the stored results
never imports GE (about 3 s of an unchanged run), and a suite's fingerprint is its
descriptors' JSON, computed without GE.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Expectation:
    type: str  # GE's class name, e.g. "ExpectColumnValuesToBeBetween"
    kwargs: dict[str, Any] = field(default_factory=dict, hash=False)

    def __getattr__(self, name: str) -> Any:
        # GE's expectations expose their arguments as attributes; so does this, for the ones given
        kwargs = self.__dict__.get("kwargs", {})
        if name in kwargs:
            return kwargs[name]
        raise AttributeError(f"{self.type if 'type' in self.__dict__ else 'Expectation'} has no {name!r}: "
                             "a declared expectation (expectations/expect.py) has .type, .kwargs, "
                             ".configuration, .fingerprint() and .to_ge() (the GE expectation)")

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    @property
    def configuration(self) -> Configuration:
        """What GE's `expectation.configuration` says of it, without GE: type and arguments."""
        return Configuration(re.sub(r"(?<!^)(?=[A-Z])", "_", self.type).lower(), self.kwargs)

    def fingerprint(self) -> str:
        """Class name and arguments as canonical JSON: what decides this check's verdict on a
        given frame (with the GE version, which the gate adds to its key)."""
        return json.dumps([self.type, self.kwargs], sort_keys=True, default=str)

    def to_ge(self):
        """The Great Expectations expectation (imports GE)."""
        import great_expectations.expectations as gxe

        return getattr(gxe, self.type)(**self.kwargs)

    def __repr__(self) -> str:
        return f"{self.type}({', '.join(f'{k}={v!r}' for k, v in self.kwargs.items())})"


@dataclass(frozen=True)
class Configuration:
    type: str  # GE's snake-case name, e.g. "expect_column_values_to_be_between"
    kwargs: dict[str, Any] = field(hash=False)

    def to_json_dict(self) -> dict[str, Any]:
        return {"type": self.type, "kwargs": dict(self.kwargs)}


def __getattr__(name: str):
    if not name.startswith("Expect"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def declare(**kwargs: Any) -> Expectation:
        return Expectation(name, kwargs)

    declare.__name__ = declare.__qualname__ = name
    return declare
