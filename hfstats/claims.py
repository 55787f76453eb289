"""Re-measure published claims about the Hub: a sentence goes in, numbers and a verdict come out.

Claims are data (``queries/claims.yaml``, schema in ``docs/claims.md``). A claim is one of:

- ``measured``: a query answers it. Two shapes are supported:
  a *share* (``exclusivity``: a framework class's share of some set of models), reported under
  every reasonable denominator and both classification methods side by side; and a *count of
  additions in a year* (``yearly_additions``), reported as an interval because the Hub's
  placeholder ``createdAt`` hides when the oldest models were created.
- ``proxy``: a query gives an indirect indicator, summarised per group; never a pass or fail.
- ``not_checkable``: listed with the reason Hub metadata cannot answer it.

The verdict logic is in small pure functions over numbers (``point_verdict``,
``interval_verdict``, ``class_shares``) so that it can be tested without a database.
"""

from __future__ import annotations

import math
import operator
import re
import reprlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import duckdb
import yaml

from . import queries, store
from .errors import UsageError
from .frameworks import (
    DEFAULT_METHOD,
    FRAMEWORK_CLASSES,
    METHODS,
    PLACEHOLDER_CREATED_AT_LIMIT,
)
from .output import escape_control, float_text, markdown_cell, render
from .resources import data_path

KINDS = ("measured", "proxy", "not_checkable")
# "over 45,000" is > 45000: at exactly 45,000 it does not hold.
ORDERINGS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
COMPARISONS = (*ORDERINGS, "~")

HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
HOLDS_WITHIN_TOLERANCE = "holds within tolerance"
INDETERMINATE = "indeterminate"
PROXY_ONLY = "proxy only"
NOT_CHECKABLE = "not checkable"

# The sets a share can be taken of. Every multi_framework model has PyTorch or TensorFlow (two
# of three frameworks always include one of them), so "PyTorch or TensorFlow" is the framework
# models without the jax_only ones.
DENOMINATORS = {
    "framework_models": "models with PyTorch, TensorFlow or JAX",
    "pytorch_or_tensorflow_models": "models with PyTorch or TensorFlow",
    "pytorch_only_or_tensorflow_only_models": "models with only PyTorch or only TensorFlow",
    "all_models": "all models",
}
DEFAULT_DENOMINATOR = "framework_models"

# The Hub's placeholder createdAt: at or before this instant means "created at an unknown time
# up to then".
PLACEHOLDER_CUTOFF = datetime.fromisoformat(PLACEHOLDER_CREATED_AT_LIMIT)
# An as_of later than any createdAt: it keeps every dated model and leaves out undated ones.
AFTER_EVERY_DATE = datetime(9999, 12, 31, tzinfo=UTC)

# A proxy's measured cell shows its largest groups; numbers.groups holds all of them.
PROXY_GROUPS_SHOWN = 4
# The summary's fields that name columns of the query (the rest: show, a list of groups).
_SUMMARY_COLUMNS = ("group_by", "count", "of", "by")
# Which select keys each measured query needs.
_MEASURED_SELECT = {
    "exclusivity": ("framework_class",),
    "yearly_additions": ("framework_class", "year"),
}
_COMMON_FIELDS = {"id", "statement", "source", "kind", "as_of"}
_KIND_FIELDS = {
    "measured": ({"query", "select", "expected"}, {"params", "reading"}),
    "proxy": ({"query", "summary", "indicator"}, {"params", "method"}),
    "not_checkable": ({"why"}, set()),
}
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_SOURCE_KEYS = ("publication", "title", "author", "date", "url", "wording")
# Hundreds of claims fit in a few hundred KB; a file far larger is a mistake (or /dev/zero).
CLAIMS_FILE_LIMIT = 10 * 10**6
# Values that aliases may add to a claims file, all told: sources reused across claims need
# a few hundred.
ALIAS_EXPANSION_LIMIT = 100_000


@dataclass(frozen=True)
class Expected:
    """The published value and how a measurement is compared with it."""

    comparison: str
    value: float
    tolerance: float | None = None

    def text(self) -> str:
        if self.comparison == "~":
            return f"~ {_given_text(self.value)} ± {_given_text(self.tolerance)}"
        return f"{self.comparison} {_given_text(self.value)}"

    def bounds(self) -> list[Fraction]:
        """The values a measurement is compared with."""
        value = _exact(self.value)
        if self.comparison == "~":
            tolerance = _exact(self.tolerance or 0)
            return [value - tolerance, value + tolerance]
        return [value]


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    source: dict[str, str]
    kind: str
    # None means "as of the snapshot read" (``as_of: latest`` in the file).
    as_of: datetime | None
    as_of_text: str
    origin: str
    query: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    select: dict[str, Any] = field(default_factory=dict)
    expected: Expected | None = None
    denominator: str = DEFAULT_DENOMINATOR
    method: str = DEFAULT_METHOD
    summary: dict[str, Any] = field(default_factory=dict)
    indicator: str | None = None
    why: str | None = None

    def source_text(self) -> str:
        return ", ".join(self.source[key] for key in _SOURCE_KEYS if self.source.get(key))


@dataclass
class ClaimResult:
    id: str
    statement: str
    source: str
    kind: str
    as_of: str
    expected: str
    measured: str
    verdict: str
    reading: str
    caveats: list[str]
    numbers: dict[str, Any]
    readings: list[dict[str, Any]]


RESULT_FIELDS = (
    "id",
    "statement",
    "source",
    "kind",
    "as_of",
    "expected",
    "measured",
    "verdict",
    "reading",
    "caveats",
    "numbers",
    "readings",
)
# as_of: two claims of one statement (as of its day, as of the latest snapshot) differ by it.
TABLE_COLUMNS = ["claim", "as_of", "expected", "measured", "verdict", "reading"]


# -- loading -----------------------------------------------------------------------------------


_SHOWN = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHOWN.maxstring = _SHOWN.maxother = 80
_SHOWN.maxlist = _SHOWN.maxdict = _SHOWN.maxtuple = 6
_SHOWN.maxlevel = 3


def _shown(value: object) -> str:
    """``repr(value)`` cut short: a claims file's value may be huge, and is only quoted."""
    return _SHOWN.repr(value)


class _ClaimsLoader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text, so that a bad date is reported with its claim,
    refuses a key given twice in one mapping (YAML would keep the last one silently), and
    bounds what aliases expand to: ten nested ones make a billion items out of one line, and
    fifty thousand of a large list fill the memory. (The packaged file's *assemblyai stays.)"""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._expanded = 0
        self._sizes: dict[int, int] = {}
        self._open: set[str] = set()  # anchors whose node is still being read

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open:
                # &a [*a]: a node inside itself, which no claim needs and no size bounds.
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"*{event.anchor} refers to the node it is part of",
                    event.start_mark,
                )
            if event.anchor in self.anchors:
                self._expanded += self._size(self.anchors[event.anchor])
                if self._expanded > ALIAS_EXPANSION_LIMIT:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"aliases expand to more than {ALIAS_EXPANSION_LIMIT:,} values",
                        event.start_mark,
                    )
            return super().compose_node(parent, index)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._open.discard(anchor)

    def _size(self, node: yaml.Node) -> int:
        """Values in ``node``, aliases expanded (each node counted once per anchor)."""
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        if isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._size(item) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._size(k) + self._size(v) for k, v in node.value)
        else:
            size = 1 + len(node.value) // 64  # a long text counts as many values
        self._sizes[id(node)] = size
        return size

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                # Every key of a claims file names a field or a parameter.
                raise yaml.constructor.ConstructorError(
                    None, None, f"a key must be text (got {_shown(key)})", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {_shown(key)} appears twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_ClaimsLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def packaged_claims_path() -> Path:
    return data_path("queries") / "claims.yaml"


def load_claims(path: str | Path | None = None) -> list[Claim]:
    """The packaged claims, plus those in ``path`` when given; ``UsageError`` if malformed."""
    claims = _load_file(packaged_claims_path())
    if path is not None:
        claims += _load_file(Path(path))
    seen: dict[str, str] = {}
    for claim in claims:
        if claim.id in seen:
            raise UsageError(
                f"{claim.origin}: claim {claim.id!r}: duplicate id (also in {seen[claim.id]})"
            )
        seen[claim.id] = claim.origin
    return claims


def _load_file(path: Path) -> list[Claim]:
    try:
        with open(path, "rb") as handle:
            data = handle.read(CLAIMS_FILE_LIMIT + 1)
        if len(data) > CLAIMS_FILE_LIMIT:
            raise UsageError(
                f"{path}: larger than {CLAIMS_FILE_LIMIT // 10**6} MB; not a claims file"
            )
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such claims file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the claims file: {exc}") from None
    try:
        document = yaml.load(text, Loader=_ClaimsLoader)  # _ClaimsLoader is a SafeLoader
    except (RecursionError, ValueError) as exc:
        # Nesting deeper than Python recurses, an integer of thousands of digits.
        raise UsageError(f"{path}: cannot read the claims file: {str(exc)[:200]}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "malformed YAML"
        kind = (
            "YAML error"
            if isinstance(exc, yaml.constructor.ConstructorError)
            else "YAML syntax error"
        )
        raise UsageError(f"{path}: {kind}{where}: {problem}") from None
    if not isinstance(document, dict) or not isinstance(document.get("claims"), list):
        raise UsageError(f"{path}: expected a mapping with a 'claims' list at the top")
    unknown_top = set(document) - {"claims"}
    if unknown_top:
        raise UsageError(f"{path}: unknown top-level key(s): {', '.join(sorted(unknown_top))}")
    return [_parse_claim(entry, index, str(path)) for index, entry in enumerate(document["claims"])]


def _parse_claim(entry: Any, index: int, origin: str) -> Claim:
    label = f"{origin}: claim #{index + 1}"
    if not isinstance(entry, dict):
        raise UsageError(f"{label}: expected a mapping of fields")
    claim_id = entry.get("id")
    if isinstance(claim_id, str) and claim_id:
        label = f"{origin}: claim {_shown(claim_id)}"

    def fail(problem: str) -> UsageError:
        return UsageError(f"{label}: {problem}")

    kind = entry.get("kind")
    if kind not in KINDS:
        if kind is None:
            raise fail("missing field 'kind'")
        raise fail(f"kind must be one of {', '.join(KINDS)} (got {_shown(kind)})")
    required, optional = _KIND_FIELDS[kind]
    for name in sorted(_COMMON_FIELDS | required):
        if entry.get(name) in (None, "", {}):
            raise fail(f"missing field {name!r}")
    unknown = set(entry) - _COMMON_FIELDS - required - optional
    if unknown:
        raise fail(f"unknown field(s) for a {kind} claim: {', '.join(sorted(unknown))}")
    if not isinstance(claim_id, str) or not _ID_RE.match(claim_id):
        raise fail("id must be lowercase letters, digits, '-', '_' or '.'")
    if not isinstance(entry["statement"], str) or not entry["statement"].strip():
        raise fail("statement must be text (the claim's words)")
    as_of, as_of_text = _parse_as_of(entry["as_of"], fail)
    fields: dict[str, Any] = {
        "id": claim_id,
        "statement": entry["statement"].strip(),
        "source": _parse_source(entry["source"], fail),
        "kind": kind,
        "as_of": as_of,
        "as_of_text": as_of_text,
        "origin": origin,
    }
    if kind == "not_checkable":
        return Claim(**fields, why=_text_field(entry, "why", fail))
    query = entry["query"]
    if not isinstance(query, str):
        raise fail("query must be a query name")
    spec = _load_query_spec(query, fail)
    params = entry.get("params") or {}
    if not isinstance(params, dict):
        raise fail("params must be a mapping of query parameters")
    # as_of, method and snapshot_id come from the claim and from `hfstats check`.
    reserved = {"as_of", "method", "snapshot_id"}
    unknown_params = sorted(set(map(str, params)) - (set(spec.params) - reserved))
    if unknown_params:
        raise fail(f"query {query} takes no parameter {_shown(unknown_params[0])} here")
    fields.update(query=query, params=params)
    if kind == "proxy":
        method = entry.get("method", DEFAULT_METHOD)
        if not isinstance(method, str) or method not in METHODS:
            raise fail(f"method must be one of {', '.join(METHODS)} (got {_shown(method)})")
        if "method" in entry and "method" not in spec.params:
            raise fail(f"query {query} classifies no frameworks, so it takes no method")
        return Claim(
            **fields,
            method=method,
            summary=_parse_summary(entry["summary"], spec.columns, fail),
            indicator=_text_field(entry, "indicator", fail),
        )
    if query not in _MEASURED_SELECT:
        raise fail(
            f"a measured claim uses one of the queries {', '.join(_MEASURED_SELECT)} "
            f"(got {_shown(query)}); use kind: proxy for other queries"
        )
    select = _parse_select(entry["select"], query, fail)
    expected = _parse_expected(entry["expected"], fail)
    denominator, method = _parse_reading(entry.get("reading") or {}, fail)
    if query == "yearly_additions" and "denominator" in (entry.get("reading") or {}):
        raise fail("a yearly_additions claim counts models: reading.denominator has no meaning")
    if query == "exclusivity":
        denominator = _denominator_for(select["framework_class"], denominator, entry, fail)
        if not 0 <= expected.value <= 1:
            raise fail(
                f"expected.value of an exclusivity claim is a share from 0 to 1 "
                f"(got {_shown(expected.value)}; write 92% as 0.92)"
            )
    return Claim(**fields, select=select, expected=expected, denominator=denominator, method=method)


def _text_field(entry: dict, name: str, fail) -> str:
    value = entry[name]
    if not isinstance(value, str):
        raise fail(f"{name} must be text")
    return " ".join(value.split())


def _parse_source(value: Any, fail) -> dict[str, str]:
    if isinstance(value, str):
        return {"publication": value}
    if not isinstance(value, dict):
        raise fail("source must be text or a mapping of publication, title, author, date, url")
    unknown = set(value) - set(_SOURCE_KEYS)
    if unknown:
        raise fail(f"unknown source field(s): {', '.join(sorted(map(str, unknown)))}")
    if not value.get("publication"):
        raise fail("missing field 'source.publication' (write 'unconfirmed' if unknown)")
    for key in _SOURCE_KEYS:
        if isinstance(value.get(key), list | dict):
            raise fail(f"source.{key} must be text")
    return {key: str(value[key]) for key in _SOURCE_KEYS if value.get(key) is not None}


def _parse_as_of(value: Any, fail) -> tuple[datetime | None, str]:
    """``latest`` (the snapshot read), or a cut-off as ``hfstats query --as-of`` reads it: a
    date means the end of that day, UTC, so a claim "as of 2022-12-31" includes that day."""
    if value == "latest":
        return None, "latest"
    if not isinstance(value, str | date):
        raise fail(f"bad date in as_of: {_shown(value)} (use YYYY-MM-DD, an ISO time or 'latest')")
    try:
        moment = queries.parse_as_of(value)
    except UsageError:
        raise fail(
            f"bad date in as_of: {_shown(value)} (use YYYY-MM-DD, an ISO time or 'latest')"
        ) from None
    text = value.isoformat() if isinstance(value, date) else value.strip()
    return moment.astimezone(UTC), text


def _load_query_spec(name: str, fail):
    try:
        return queries.load_query(name)
    except UsageError as exc:
        raise fail(f"unknown query {_shown(name)} ({exc})") from None


def _parse_select(value: Any, query: str, fail) -> dict[str, Any]:
    needed = _MEASURED_SELECT[query]
    if not isinstance(value, dict):
        raise fail(f"select must be a mapping of {', '.join(needed)}")
    for key in needed:
        if value.get(key) is None:
            raise fail(f"missing field 'select.{key}'")
    unknown = set(value) - set(needed)
    if unknown:
        raise fail(f"unknown select field(s) for {query}: {', '.join(sorted(map(str, unknown)))}")
    if (
        not isinstance(value["framework_class"], str)
        or value["framework_class"] not in FRAMEWORK_CLASSES
    ):
        raise fail(
            f"select.framework_class must be one of {', '.join(FRAMEWORK_CLASSES)} "
            f"(got {_shown(value['framework_class'])})"
        )
    if "year" in needed and (
        isinstance(value["year"], bool)
        or not isinstance(value["year"], int)
        or not 1 <= value["year"] <= 9999
    ):
        raise fail(f"select.year must be a year such as 2022 (got {_shown(value['year'])})")
    return dict(value)


def _parse_expected(value: Any, fail) -> Expected:
    if not isinstance(value, dict):
        raise fail("expected must be a mapping: {comparison: '>=', value: 45000}")
    comparison = value.get("comparison")
    if comparison is None:
        raise fail("missing field 'expected.comparison'")
    if not isinstance(comparison, str) or comparison not in COMPARISONS:
        raise fail(
            f"bad comparison {_shown(comparison)} in expected (use one of {', '.join(COMPARISONS)})"
        )
    number = value.get("value")
    if number is None:
        raise fail("missing field 'expected.value'")
    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
        raise fail(f"expected.value must be a number (got {_shown(number)})")
    tolerance = value.get("tolerance")
    if comparison == "~":
        if tolerance is None:
            raise fail("missing field 'expected.tolerance' (a '~' comparison needs one)")
        if (
            isinstance(tolerance, bool)
            or not isinstance(tolerance, int | float)
            or not math.isfinite(tolerance)
            or tolerance < 0
        ):
            raise fail(f"expected.tolerance must be a number >= 0 (got {_shown(tolerance)})")
    elif tolerance is not None:
        raise fail(
            f"expected.tolerance only goes with '~' (the comparison is {_shown(comparison)})"
        )
    unknown = set(value) - {"comparison", "value", "tolerance"}
    if unknown:
        raise fail(f"unknown expected field(s): {', '.join(sorted(map(str, unknown)))}")
    return Expected(comparison, number, tolerance)


def _parse_reading(value: Any, fail) -> tuple[str, str]:
    if not isinstance(value, dict) or set(value) - {"denominator", "method"}:
        raise fail("reading must be a mapping with denominator and/or method")
    denominator = value.get("denominator", DEFAULT_DENOMINATOR)
    if not isinstance(denominator, str) or denominator not in DENOMINATORS:
        raise fail(f"reading.denominator must be one of {', '.join(DENOMINATORS)}")
    method = value.get("method", DEFAULT_METHOD)
    if not isinstance(method, str) or method not in METHODS:
        raise fail(f"reading.method must be one of {', '.join(METHODS)}")
    return denominator, method


def _denominator_for(framework_class: str, denominator: str, entry: dict, fail) -> str:
    """The denominator of a share claim, checked against the class it is a share of."""
    possible = class_shares(dict.fromkeys(FRAMEWORK_CLASSES, 0), framework_class)
    if denominator in possible:
        return denominator
    if "denominator" not in (entry.get("reading") or {}):
        return next(iter(possible))  # no_framework: only a share of all models makes sense
    raise fail(
        f"reading.denominator {denominator} cannot hold {framework_class} models "
        f"(use {' or '.join(possible)})"
    )


def _parse_summary(value: Any, columns: list[str], fail) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail("summary must be a mapping: {group_by: COLUMN, count: COLUMN, of: COLUMN}")
    for key in ("group_by", "count"):
        if value.get(key) is None:
            raise fail(f"missing field 'summary.{key}'")
    unknown = set(value) - {*_SUMMARY_COLUMNS, "show"}
    if unknown:
        raise fail(f"unknown summary field(s): {', '.join(sorted(map(str, unknown)))}")
    for key in _SUMMARY_COLUMNS:
        column = value.get(key)
        if key in value and column not in columns:
            raise fail(
                f"summary.{key}: the query has no column {_shown(column)} (it has {', '.join(columns)})"
            )
    named = [value[key] for key in _SUMMARY_COLUMNS if key in value]
    if len(set(named)) < len(named):
        raise fail(
            "summary.group_by, summary.count, summary.of and summary.by must name different columns"
        )
    show = value.get("show", [])
    if (
        not isinstance(show, list)
        or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in show)
        or len({_show_key(v) for v in show}) < len(show)
    ):
        raise fail(
            "summary.show must be a list of distinct group values (such as [tflite, onnx]), "
            f"not {_shown(show)}"
        )
    return dict(value)


# -- verdicts: pure functions over numbers -----------------------------------------------------


def point_verdict(value: Fraction | int | float, expected: Expected) -> str:
    """The verdict for one exact measurement."""
    measured = _exact(value)
    target = _exact(expected.value)
    if expected.comparison in ORDERINGS:
        return HOLDS if ORDERINGS[expected.comparison](measured, target) else DOES_NOT_HOLD
    tolerance = _exact(expected.tolerance or 0)
    return HOLDS_WITHIN_TOLERANCE if abs(measured - target) <= tolerance else DOES_NOT_HOLD


def interval_verdict(
    lower: int | float, upper: int | float | None, expected: Expected
) -> tuple[str, str]:
    """The verdict for a value known only to lie in [lower, upper] (no upper bound: None), and
    the bound it rests on.

    It holds only if every value in the interval holds, fails only if none does, and is
    ``indeterminate`` when the interval straddles the expected value.
    """
    low = _exact(lower)
    high = None if upper is None else _exact(upper)
    target = _exact(expected.value)
    if expected.comparison in (">=", ">"):  # the larger, the likelier to hold
        satisfies = ORDERINGS[expected.comparison]
        if satisfies(low, target):
            return HOLDS, "lower"
        if high is not None and not satisfies(high, target):
            return DOES_NOT_HOLD, "upper"
        return INDETERMINATE, "both"
    if expected.comparison in ("<=", "<"):
        satisfies = ORDERINGS[expected.comparison]
        if high is not None and satisfies(high, target):
            return HOLDS, "upper"
        if not satisfies(low, target):
            return DOES_NOT_HOLD, "lower"
        return INDETERMINATE, "both"
    tolerance = _exact(expected.tolerance or 0)
    if high is not None and target - tolerance <= low and high <= target + tolerance:
        return HOLDS_WITHIN_TOLERANCE, "both"
    if high is not None and high < target - tolerance:
        return DOES_NOT_HOLD, "upper"
    if low > target + tolerance:
        return DOES_NOT_HOLD, "lower"
    return INDETERMINATE, "both"


def class_shares(class_counts: dict[str, int], framework_class: str) -> dict[str, tuple[int, int]]:
    """(numerator, denominator) of ``framework_class``'s share under each denominator."""
    framework_models = sum(count for name, count in class_counts.items() if name != "no_framework")
    denominators = {
        "framework_models": framework_models,
        "pytorch_or_tensorflow_models": framework_models - class_counts.get("jax_only", 0),
        # PyTorch against TensorFlow, each alone: the two exclusive shares add up to 1.
        "pytorch_only_or_tensorflow_only_models": class_counts.get("pytorch_only", 0)
        + class_counts.get("tensorflow_only", 0),
        "all_models": sum(class_counts.values()),
    }
    numerator = class_counts.get(framework_class, 0)
    if framework_class == "no_framework":
        # no_framework models are outside the framework denominators by definition.
        return {"all_models": (numerator, denominators["all_models"])}
    if framework_class not in ("pytorch_only", "tensorflow_only"):
        denominators.pop("pytorch_only_or_tensorflow_only_models")
    if framework_class == "jax_only":
        denominators.pop("pytorch_or_tensorflow_models")
    return {name: (numerator, total) for name, total in denominators.items()}


def _exact(value: Fraction | int | float) -> Fraction:
    # Via str so that 0.92 is 92/100, not the nearest binary fraction.
    return value if isinstance(value, Fraction) else Fraction(str(value))


def _given_text(value: float | int | None) -> str:
    """A number of the claims file as written there (0.00002, not 0 at four decimals)."""
    if value is None:
        return ""
    text = format(Decimal(str(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _share_text(value: Fraction, expected: Expected) -> str:
    """``value`` at four decimals, or as many more as it takes not to look equal to a bound
    it differs from: 1/17 against <= 0.0588 is 0.05882, not a "0.0588" that does not hold."""
    for places in range(4, 13):
        text = f"{float(value):.{places}f}"
        if all(
            text != f"{float(bound):.{places}f}" or value == bound for bound in expected.bounds()
        ):
            break
    return text


def _number_text(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return float_text(value)


def _reading_label(denominator: str | None, method: str) -> str:
    return f"{denominator}, {method}" if denominator else method


# -- measuring ---------------------------------------------------------------------------------


@dataclass
class _Context:
    connection: duckdb.DuckDBPyConnection
    snapshot_id: int
    snapshot_finished_at: datetime | None
    first_full_snapshot_started_at: datetime | None
    deletions_observed: int
    query_cache: dict | None = None


def check_claims(
    connection: duckdb.DuckDBPyConnection,
    claims: Sequence[Claim],
    *,
    snapshot_id: int | datetime | None = None,
    ids: str | Iterable[str] | None = None,
    query_cache: dict | None = None,
) -> list[ClaimResult]:
    """Measure ``claims`` (only those in ``ids``, one id or several, when given) on one snapshot.

    ``query_cache``: see ``queries.run_query``; the report shares its own.
    """
    selected = list(claims)
    if ids:
        wanted = list(dict.fromkeys([ids] if isinstance(ids, str) else ids))
        known = {claim.id for claim in selected}
        unknown = [claim_id for claim_id in wanted if claim_id not in known]
        if unknown:
            raise UsageError(
                f"unknown claim id(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        selected = [claim for claim in selected if claim.id in wanted]
    context = _context(connection, store.resolve_snapshot(connection, snapshot_id))
    # A claim asks for some results more than once (yearly_additions per method, with and
    # without the placeholder cut-off): one check answers each from a cache of its own.
    context.query_cache = {} if query_cache is None else query_cache
    return [_check(context, claim) for claim in selected]


def _context(connection: duckdb.DuckDBPyConnection, snapshot_id: int) -> _Context:
    facts = store.snapshot_facts(connection, snapshot_id)
    return _Context(
        connection,
        snapshot_id,
        facts.finished_at,
        facts.first_full_started_at,
        facts.deletions_observed,
    )


def _check(context: _Context, claim: Claim) -> ClaimResult:
    result = ClaimResult(
        id=claim.id,
        statement=claim.statement,
        source=claim.source_text(),
        kind=claim.kind,
        as_of=claim.as_of_text,
        expected=claim.expected.text() if claim.expected else "",
        measured="",
        verdict=NOT_CHECKABLE,
        reading="",
        caveats=[],
        numbers={},
        readings=[],
    )
    if claim.kind == "not_checkable":
        result.caveats.append(f"not checkable: {claim.why}")
        return result
    if claim.kind == "proxy":
        _measure_proxy(context, claim, result)
    elif claim.query == "exclusivity":
        _measure_share(context, claim, result)
    else:
        _measure_yearly_interval(context, claim, result)
    result.numbers.update(
        snapshot_id=context.snapshot_id,
        snapshot_finished_at=context.snapshot_finished_at,
        deletions_observed=context.deletions_observed,
    )
    result.caveats += _snapshot_caveats(context, claim)
    return result


_CLAIM_AS_OF = object()


def _run(
    context: _Context,
    claim: Claim,
    name: str,
    method: str | None,
    as_of: datetime | None | object = _CLAIM_AS_OF,
) -> list[dict[str, Any]]:
    """Rows of query ``name`` as dicts; ``method`` None for a query that takes none; ``as_of``
    the claim's unless given."""
    outcome = queries.run_query(
        context.connection,
        name,
        claim.params or None,
        snapshot_id=context.snapshot_id,
        as_of=claim.as_of if as_of is _CLAIM_AS_OF else as_of,
        cache=context.query_cache,
        **({"method": method} if method else {}),
    )
    return [dict(zip(outcome.columns, row, strict=True)) for row in outcome.rows]


def _methods_of(query: str) -> tuple[str | None, ...]:
    return METHODS if "method" in queries.load_query(query).params else (None,)


def _class_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(FRAMEWORK_CLASSES, 0)
    for row in rows:
        counts[row["framework_class"]] = counts.get(row["framework_class"], 0) + int(row["models"])
    return counts


def _placeholder_counts(
    context: _Context, claim: Claim, method: str, query: str = "yearly_additions"
) -> dict[str, int]:
    """Models per class whose createdAt is the placeholder (``year`` NULL in ``query``,
    yearly_additions or deleted_models), whatever the claim's date: created at an unknown time
    up to the cut-off, they may have existed by an earlier as_of too, so they are counted as of
    the cut-off then. Always with an as_of, which leaves out models without any createdAt
    (``_undated_counts``)."""
    as_of = max(claim.as_of or AFTER_EVERY_DATE, PLACEHOLDER_CUTOFF)
    rows = _run(context, claim, query, method, as_of=as_of)
    return _class_counts([row for row in rows if row["year"] is None])


def _undated_counts(
    context: _Context, claim: Claim, method: str, query: str = "yearly_additions"
) -> dict[str, int]:
    """Models per class without any usable createdAt (only damaged data), whatever the claim's
    date: created at any time, they may have existed by any as_of. ``query`` gives them year
    NULL beside the placeholder-dated ones, and only without an as_of."""
    rows = _run(context, claim, query, method, as_of=None)
    without_year = _class_counts([row for row in rows if row["year"] is None])
    placeholder = _placeholder_counts(context, claim, method, query)
    return {c: n - placeholder.get(c, 0) for c, n in without_year.items()}


@dataclass
class _Deleted:
    """Models per class that an earlier snapshot held and the measured one no longer lists,
    and that may be additions of the year by the claim's as_of (``may_be``): those created in
    it, and those created at an unknown time that may be in it (the placeholder or no
    createdAt, as the upper bound counts the listed ones). Of them, those of an unknown time,
    and those created in the year that a full snapshot begun since as_of listed: they existed
    then for certain, so the lower bound counts them too."""

    may_be: dict[str, int]
    unknown_time: dict[str, int]
    certain: dict[str, int]


def _deleted_in_year(context: _Context, claim: Claim, method: str, year: int) -> _Deleted:
    rows = _run(context, claim, "deleted_models", method)
    of_year = [row for row in rows if _is_year(row["year"], year)]
    in_year = _class_counts(of_year)
    certain = _class_counts([{**r, "models": r["models_listed_since_as_of"]} for r in of_year])
    no_counts = dict.fromkeys(in_year, 0)
    placeholder = (
        _placeholder_counts(context, claim, method, "deleted_models")
        if _placeholder_reaches(claim)
        else no_counts
    )
    undated = (
        no_counts
        if _before_the_year(claim)
        else _undated_counts(context, claim, method, "deleted_models")
    )
    unknown_time = {c: placeholder.get(c, 0) + undated.get(c, 0) for c in in_year}
    may_be = {c: in_year[c] + unknown_time[c] for c in in_year}
    return _Deleted(may_be, unknown_time, certain)


def _models(count: int, what: str, plural_verb: str = "", singular_verb: str = "") -> str:
    """'1 WHAT model has', '2 WHAT models have' (``what`` may be empty)."""
    noun = " ".join(part for part in (what, "model" if count == 1 else "models") if part)
    verb = singular_verb if count == 1 else plural_verb
    return " ".join(part for part in (str(count), noun, verb) if part)


def _them(count: int) -> str:
    return "it" if count == 1 else "them"


def _measure_share(context: _Context, claim: Claim, result: ClaimResult) -> None:
    framework_class = claim.select["framework_class"]
    counts_by_method: dict[str, dict[str, int]] = {}
    for method in METHODS:
        counts_by_method[method] = _class_counts(_run(context, claim, "exclusivity", method))
        for denominator, (numerator, total) in class_shares(
            counts_by_method[method], framework_class
        ).items():
            value = Fraction(numerator, total) if total else None
            result.readings.append(
                {
                    "denominator": denominator,
                    "method": method,
                    "numerator": numerator,
                    "models": total,
                    "value": float(value) if value is not None else None,
                    "verdict": point_verdict(value, claim.expected)
                    if value is not None
                    else INDETERMINATE,
                }
            )
    primary = _primary_reading(result.readings, claim.denominator, claim.method)
    result.verdict = primary["verdict"]
    if primary["value"] is None:
        result.measured = "no models"
        result.caveats.append(f"no {DENOMINATORS[primary['denominator']]} in this measurement")
    else:
        share = _share_text(Fraction(primary["numerator"], primary["models"]), claim.expected)
        result.measured = f"{share} ({primary['numerator']} / {primary['models']})"
    result.reading = _reading_with_flips(result.readings, primary)
    placeholders = _placeholder_counts(context, claim, claim.method)
    result.numbers.update(
        framework_class=framework_class,
        value=primary["value"],
        numerator=primary["numerator"],
        denominator_models=primary["models"],
        denominator=primary["denominator"],
        method=primary["method"],
        expected_value=claim.expected.value,
        tolerance=claim.expected.tolerance,
        class_counts=counts_by_method,
        placeholder_models=sum(placeholders.values()),
        placeholder_models_in_class=placeholders.get(framework_class, 0),
    )
    result.caveats += _flip_caveats(result.readings, primary)
    result.caveats.append(_share_placeholder_caveat(claim, counts_by_method, placeholders))
    if claim.as_of is not None:
        # Measured without a date, they are in the share; by a date, whether they existed then
        # is unknown.
        undated = _undated_counts(context, claim, claim.method)
        total = sum(undated.values())
        if total:
            result.caveats.append(
                f"no creation date: {_models(total, '')} "
                f"({undated.get(framework_class, 0)} {framework_class}) "
                f"{'have' if total != 1 else 'has'} no usable createdAt (damaged data); whether "
                f"{'they' if total != 1 else 'it'} existed by {claim.as_of_text} is unknown, so "
                f"the share leaves {_them(total)} out"
            )


def _measure_yearly_interval(context: _Context, claim: Claim, result: ClaimResult) -> None:
    framework_class = claim.select["framework_class"]
    year = claim.select["year"]
    period_end = datetime(year, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    if claim.as_of is not None:
        period_end = min(period_end, claim.as_of)
    # The year (up to as_of) did not end before the snapshot: a count, however exact, can
    # only grow. (By an as_of before the year began, it is 0 whatever the snapshot.)
    finished = context.snapshot_finished_at
    unfinished = not _before_the_year(claim) and (finished is None or period_end > finished)
    per_method = {}
    for method in METHODS:
        rows = _run(context, claim, "yearly_additions", method)
        in_class = [row for row in rows if row["framework_class"] == framework_class]
        listed = sum(int(row["models"]) for row in in_class if _is_year(row["year"], year))
        placeholder = _placeholder_counts(context, claim, method).get(framework_class, 0)
        # A model without any date may belong to any year, also by an as_of; by one before the
        # year began, nothing was added in it.
        undated = (
            0
            if _before_the_year(claim)
            else _undated_counts(context, claim, method).get(framework_class, 0)
        )
        # Survivorship: models of the year deleted since are missing from the count; those
        # hfstats saw can only raise it.
        gone = _deleted_in_year(context, claim, method, year)
        deleted = gone.may_be.get(framework_class, 0)
        deleted_certain = gone.certain.get(framework_class, 0)
        lower = listed + deleted_certain
        upper = listed + (placeholder if _placeholder_reaches(claim) else 0) + undated + deleted
        if unfinished:
            upper = None  # models created after the snapshot are not in it
        verdict, bound = interval_verdict(lower, upper, claim.expected)
        per_method[method] = {
            "lower": lower,
            "upper": upper,
            "placeholder": placeholder,
            "undated": undated,
            "deleted": deleted,
        }
        result.readings.append(
            {
                "denominator": None,
                "method": method,
                "lower": lower,
                "upper": upper,
                "placeholder_models": placeholder,
                "undated_models": undated,
                "deleted_models": deleted,
                "deleted_models_of_unknown_time": gone.unknown_time.get(framework_class, 0),
                "deleted_models_in_lower_bound": deleted_certain,
                "value": [lower, upper],
                "verdict": verdict,
                "bound": bound,
            }
        )
    primary = _primary_reading(result.readings, None, claim.method)
    result.verdict = primary["verdict"]
    lower, upper = primary["lower"], primary["upper"]
    if upper is None:
        result.measured = f"at least {lower}"
    else:
        result.measured = str(lower) if lower == upper else f"[{lower}, {upper}]"
    result.reading = f"{claim.method}; {_bound_phrase(primary)}"
    flips = [r for r in result.readings if r["verdict"] != primary["verdict"]]
    if flips:
        result.reading += "; flips to " + "; ".join(
            f"{r['verdict']} under {r['method']}" for r in flips
        )
    result.numbers.update(
        framework_class=framework_class,
        year=year,
        lower=lower,
        upper=upper,
        bound=primary["bound"],
        method=claim.method,
        expected_value=claim.expected.value,
        tolerance=claim.expected.tolerance,
        by_method=per_method,
        placeholder_models=primary["placeholder_models"],
        undated_models=primary["undated_models"],
        deleted_models=primary["deleted_models"],
        deleted_models_of_unknown_time=primary["deleted_models_of_unknown_time"],
        deleted_models_in_lower_bound=primary["deleted_models_in_lower_bound"],
    )
    result.caveats += _flip_caveats(result.readings, primary)
    if upper is None:
        result.caveats.append(
            f"unfinished period: models created up to {_instant_text(period_end)} count, and "
            f"snapshot {context.snapshot_id} finished before that "
            f"({_instant_text(finished)}); models created since are missing, so {lower} is "
            "only a lower bound"
        )

    def upper_counts(count: int) -> str:
        # With no upper bound (an unfinished period), only the lower bound is said.
        return (
            ""
            if upper is None
            else f", the upper bound {upper} counts {_them(count)} as {year} additions"
        )

    undated = primary["undated_models"]
    if undated:
        result.caveats.append(
            f"no creation date: {_models(undated, framework_class, 'have', 'has')} no usable "
            f"createdAt (damaged data), so {'they' if undated != 1 else 'it'} may have been "
            f"created at any time; the lower bound {lower} leaves {_them(undated)} out"
            f"{upper_counts(undated)}"
        )
    deleted = primary["deleted_models"]
    certain = primary["deleted_models_in_lower_bound"]
    if deleted:
        listed_since = f"a full snapshot begun since {claim.as_of_text} listed"
        if certain == deleted:
            counted = (
                f"{listed_since} {_them(deleted)}, so {'they' if deleted != 1 else 'it'} "
                f"existed by then: both bounds count {_them(deleted)}"
            )
        elif certain:
            counted = (
                f"the {certain} {listed_since} existed by then, and both bounds count them; "
                f"the lower bound {lower} leaves the other {deleted - certain} out"
                f"{upper_counts(deleted - certain)}"
            )
        else:
            counted = f"the lower bound {lower} leaves {_them(deleted)} out{upper_counts(deleted)}"
        result.caveats.append(
            f"deleted models: {_models(deleted, framework_class)} created in {year}"
            f"{_of_unknown_time(primary['deleted_models_of_unknown_time'], deleted, year)} "
            f"{'were' if deleted != 1 else 'was'} listed by an earlier snapshot and "
            f"{'are' if deleted != 1 else 'is'} no longer at snapshot {context.snapshot_id}; "
            f"{counted}"
        )
    placeholder = primary["placeholder_models"]
    carry = _models(placeholder, framework_class, "carry", "carries")
    if placeholder and _placeholder_reaches(claim):
        result.caveats.append(
            f"placeholder dates: {carry} the Hub's placeholder createdAt (created at an unknown "
            f"time up to {_instant_text(PLACEHOLDER_CUTOFF)}); the lower bound {lower} leaves "
            f"{_them(placeholder)} out{upper_counts(placeholder)}"
        )
    elif placeholder and year <= PLACEHOLDER_CUTOFF.year:
        result.caveats.append(
            f"placeholder dates: {carry} the placeholder createdAt; as_of {claim.as_of_text} is "
            f"before {year} began, so none is a {year} addition by then"
        )
    elif placeholder:
        created = "all were" if placeholder != 1 else "it was"
        result.caveats.append(
            f"placeholder dates: {carry} the placeholder createdAt; {created} created by "
            f"{PLACEHOLDER_CUTOFF.date()}, so none is a {year} addition"
        )
    else:
        result.caveats.append(
            f"placeholder dates: no {framework_class} model in this measurement carries the "
            "placeholder createdAt"
        )


def _of_unknown_time(unknown: int, deleted: int, year: int) -> str:
    """What the deleted-models caveat adds when some of them were created at an unknown time."""
    if not unknown:
        return ""
    if unknown == deleted:
        times = "an unknown time" if deleted == 1 else "unknown times"
        return f" or at {times} that may be in {year}"
    return f" ({unknown} of them at an unknown time that may be in {year})"


def _is_year(value: Any, year: int) -> bool:
    return value is not None and int(value) == year


def _before_the_year(claim: Claim) -> bool:
    """The claim's as_of is before its year began: nothing was added in that year by then."""
    year_began = datetime(claim.select["year"], 1, 1, tzinfo=UTC)
    return claim.as_of is not None and claim.as_of < year_began


def _placeholder_reaches(claim: Claim) -> bool:
    """Whether placeholder-dated models (created at an unknown time up to 2022-03-02) can be
    additions of the claim's year by its as_of: not of a later year, nor by a date before the
    year began."""
    return claim.select["year"] <= PLACEHOLDER_CUTOFF.year and not _before_the_year(claim)


def _bound_phrase(reading: dict[str, Any]) -> str:
    """Which bound the verdict rests on, and what the upper bound adds to the lower."""
    if reading["upper"] is None:
        rests = "rests on the lower bound" if reading["bound"] == "lower" else "a lower bound only"
        return f"{rests} (the period had not ended by the snapshot)"
    undated = reading["undated_models"]
    # Those the lower bound counts too widen nothing.
    deleted = reading["deleted_models"] - reading["deleted_models_in_lower_bound"]
    placeholder = reading["upper"] - reading["lower"] - undated - deleted
    parts = [
        what
        for what, count in (
            ("placeholder dates", placeholder),
            ("models without a date", undated),
            ("models deleted since", deleted),
        )
        if count
    ]
    added = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else "".join(parts)
    if not added:
        return "exact (lower and upper bound agree)"
    if reading["bound"] == "lower":
        return f"rests on the lower bound ({added} left out)"
    if reading["bound"] == "upper":
        return f"rests on the upper bound ({added} counted as additions)"
    if reading["verdict"] == INDETERMINATE:
        return f"rests on both bounds ({added} decide)"
    return f"rests on both bounds (with or without {added})"


def _measure_proxy(context: _Context, claim: Claim, result: ClaimResult) -> None:
    group_by, count, of = claim.summary["group_by"], claim.summary["count"], claim.summary.get("of")
    methods = _methods_of(claim.query)
    summaries: dict[str, list[dict[str, Any]]] = {}
    for method in methods:
        rows = _run(context, claim, claim.query, method)
        summaries[method or "none"] = _summarise(claim, rows, group_by, count, of)
        result.readings.append(
            {
                "denominator": of,
                "method": method,
                "value": summaries[method or "none"],
                "verdict": PROXY_ONLY,
            }
        )
    method = claim.method if claim.method in methods else None
    result.verdict = PROXY_ONLY
    groups = summaries[method or "none"]
    # The groups the claim names come first, whatever their size: a claim about TFLite must
    # show TFLite even where larger formats would fill the line.
    show = [_show_key(v) for v in claim.summary.get("show", [])]
    shown = [g for g in groups if _show_key(g[group_by]) in show]
    shown.sort(key=lambda g: show.index(_show_key(g[group_by])))
    shown += [g for g in groups if _show_key(g[group_by]) not in show][
        : max(PROXY_GROUPS_SHOWN - len(shown), 0)
    ]
    result.measured = "; ".join(_group_text(group, group_by, count, of) for group in shown)
    if len(groups) > len(shown):
        result.measured += (
            f"; +{len(groups) - len(shown)} more (all in: hfstats check --format json)"
        )
    by = claim.summary.get("by")
    result.reading = (
        f"{count}{' of ' + of if of else ''} by {group_by}"
        + (f" and {by}" if by else "")
        + (f", {method}" if method else "")
    )
    result.numbers.update(method=method, groups=summaries)
    result.caveats.append(f"proxy: {claim.indicator}")
    if by:
        for group in shown[: len(show)] if show else shown:
            parts = "; ".join(_group_text(part, by, count, of) for part in group[f"by_{by}"])
            result.caveats.append(f"{_group_name(group[group_by])} by {by}: {parts or 'none'}")


def _summarise(
    claim: Claim, rows: list[dict[str, Any]], group_by: str, count: str, of: str | None
) -> list[dict[str, Any]]:
    """Totals per group over all other columns (years, usually), largest share or count first;
    with ``summary.by``, each group also in parts per value of that column (``by_COLUMN``)."""
    by = claim.summary.get("by")
    groups = _totals(claim, rows, group_by, count, of)
    if by:
        for group in groups:
            parts = _totals(
                claim, [r for r in rows if r[group_by] == group[group_by]], by, count, of
            )
            # In the column's order (years oldest first), no value (NULL) first.
            parts.sort(key=lambda part: (part[by] is not None, part[by]))
            group[f"by_{by}"] = parts
    # A group the claim names counts as 0 when the query has no row of it.
    for value in claim.summary.get("show", []):
        if not any(_show_key(group[group_by]) == _show_key(value) for group in groups):
            zero = {group_by: value, count: 0}
            if of:
                zero.update({of: 0, "share": None})
            if by:
                zero[f"by_{by}"] = []
            groups.append(zero)
    key = "share" if of else count
    return sorted(groups, key=lambda group: -(group[key] or 0))


def _totals(
    claim: Claim, rows: list[dict[str, Any]], group_by: str, count: str, of: str | None
) -> list[dict[str, Any]]:
    """``count`` (and ``of``, and their share) summed per value of ``group_by``."""
    totals: dict[Any, dict[str, Any]] = {}
    rows_of: dict[Any, int] = {}
    for row in rows:
        group = totals.setdefault(row[group_by], {group_by: row[group_by], count: 0})
        rows_of[row[group_by]] = rows_of.get(row[group_by], 0) + 1
        group[count] += _summable(claim, row, count, "count")
        if of:
            group[of] = group.get(of, 0) + _summable(claim, row, of, "of")
    repeated = [value for value, n in rows_of.items() if n > 1]
    for summary_field, column in (("count", count), ("of", of)):
        if column and column.startswith("share_") and repeated:
            # A group of one row keeps its share; shares of several rows do not add up.
            raise UsageError(
                f"{claim.origin}: claim {_shown(claim.id)}: summary.{summary_field}: {column} "
                f"is a share, and query {claim.query} has {rows_of[repeated[0]]} rows of "
                f"{_group_name(repeated[0])}: shares do not add up (name the counts it "
                "divides, as count and of)"
            )
    groups = list(totals.values())
    if of:
        for group in groups:
            group["share"] = group[count] / group[of] if group[of] else None
    return groups


def _summable(claim: Claim, row: dict[str, Any], column: str, field: str) -> int | float:
    value = row[column]
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise UsageError(
            f"{claim.origin}: claim {_shown(claim.id)}: summary.{field}: column {_shown(column)} of "
            f"query {claim.query} holds {type(value).__name__} values, not numbers to add up"
        )
    return value if isinstance(value, int) else float(value)


def _show_key(value: Any) -> str | None:
    """A group value as summary.show names it: as text, so that a year written "2023" is the
    group 2023 (a NULL group cannot be named)."""
    return None if value is None else str(value)


def _group_name(value: Any) -> str:
    # A NULL group (models naming no library) is not a group called "None".
    return "(none)" if value is None else str(value)


def _group_text(group: dict[str, Any], group_by: str, count: str, of: str | None) -> str:
    name = _group_name(group[group_by])
    if of is None:
        return f"{name} {_number_text(group[count])}"
    share = "n/a" if group["share"] is None else f"{group['share']:.4f}"
    return f"{name} {share} ({_number_text(group[count])}/{_number_text(group[of])})"


def _primary_reading(
    readings: list[dict[str, Any]], denominator: str | None, method: str
) -> dict[str, Any]:
    for reading in readings:
        if reading["method"] == method and reading["denominator"] == denominator:
            return reading
    raise ValueError(f"no reading {denominator}, {method}")  # loading checked the pair


def _reading_with_flips(readings: list[dict[str, Any]], primary: dict[str, Any]) -> str:
    text = _reading_label(primary["denominator"], primary["method"])
    flips = [r for r in readings if r["verdict"] != primary["verdict"]]
    if flips:
        text += f"; flips in {len(flips)} of {len(readings)} readings"
    return text


def _flip_caveats(readings: list[dict[str, Any]], primary: dict[str, Any]) -> list[str]:
    flips = [r for r in readings if r["verdict"] != primary["verdict"]]
    if not flips:
        every = "both" if len(readings) == 2 else f"all {len(readings)}"
        return [f"the verdict is the same under {every} readings"]
    return [
        f"the verdict flips between readings: {primary['verdict']} under "
        f"{_reading_label(primary['denominator'], primary['method'])}, but "
        + "; ".join(
            f"{r['verdict']} under {_reading_label(r['denominator'], r['method'])}" for r in flips
        )
    ]


def _share_placeholder_caveat(
    claim: Claim, counts_by_method: dict[str, dict[str, int]], placeholders: dict[str, int]
) -> str:
    measured = sum(counts_by_method[claim.method].values())
    total = sum(placeholders.values())
    if total == 0:
        return "placeholder dates: no model in this measurement carries the placeholder createdAt"
    framework_class = claim.select["framework_class"]
    in_class = f"({placeholders.get(framework_class, 0)} {framework_class})"
    they = "they" if total != 1 else "it"
    if claim.as_of is not None and claim.as_of < PLACEHOLDER_CUTOFF:
        return (
            f"placeholder dates: {_models(total, '')} {in_class} "
            f"{'carry' if total != 1 else 'carries'} the Hub's placeholder createdAt (created "
            f"at an unknown time up to {_instant_text(PLACEHOLDER_CUTOFF)}); as_of is before "
            f"that, so whether {they} existed by then is unknown: the {measured} models "
            f"measured leave {_them(total)} out"
        )
    text = (
        # Of every class, no_framework too: not the share's denominator, which reading gives.
        f"placeholder dates: {total} of the {measured} models measured in all classes "
        f"{in_class} {'carry' if total != 1 else 'carries'} the Hub's placeholder createdAt"
    )
    return text + (
        f"; {they} existed by {_instant_text(PLACEHOLDER_CUTOFF)} in any case, so the "
        "share does not depend on their unknown dates"
    )


def _snapshot_caveats(context: _Context, claim: Claim) -> list[str]:
    finished = _instant_text(context.snapshot_finished_at)
    caveats = [f"snapshot {context.snapshot_id} (finished {finished})"]
    # A proxy's query may classify frameworks too; then its groups depend on the method.
    if claim.kind == "measured" or claim.method in _methods_of(claim.query):
        caveats.append(
            f"method {claim.method}: "
            + (
                "frameworks from the Hub's tags pytorch, tf, jax"
                if claim.method == "tags"
                else "frameworks from weight files and library_name"
            )
        )
    later = (
        claim.as_of is not None
        and context.snapshot_finished_at is not None
        and claim.as_of > context.snapshot_finished_at
    )
    # A measured yearly count says so in its own words.
    if later and not (claim.kind == "measured" and claim.query == "yearly_additions"):
        caveats.append(
            f"as_of {claim.as_of_text} is after snapshot {context.snapshot_id} finished "
            f"({finished}): models created since are missing from the measurement"
        )
    if context.first_full_snapshot_started_at is None:
        observed = (
            f"hfstats kept no full snapshot up to snapshot {context.snapshot_id}, so it "
            "observed no deletions"
        )
    else:
        first = _instant_text(context.first_full_snapshot_started_at)
        observed = (
            f"hfstats observed {context.deletions_observed} deletion(s) between its full "
            f"snapshots since {first}; deletions before that are unknown to it"
        )
    if claim.as_of is None:
        caveats.append(
            f"survivorship: the claim is about the Hub of today, measured on the models listed "
            f"at snapshot {context.snapshot_id}. {observed}"
        )
    elif context.snapshot_finished_at is None or claim.as_of < context.snapshot_finished_at:
        caveats.append(
            f"survivorship: only models still listed at snapshot {context.snapshot_id} are "
            f"counted; models deleted since {claim.as_of_text} are missing. {observed}. Each "
            f"model counts as it is at snapshot "
            f"{context.snapshot_id} (one that gained or lost weight files or tags since "
            f"{claim.as_of_text} is classified as it is now)"
        )
    return caveats


def _instant_text(moment: datetime | None) -> str:
    if moment is None:
        return "unknown"
    # isoformat, not strftime: %Y leaves years before 1000 unpadded.
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


# -- presenting --------------------------------------------------------------------------------


def results_table(results: Sequence[ClaimResult]) -> tuple[list[str], list[tuple]]:
    """Columns and rows of the summary table: claim, as_of, expected, measured, verdict,
    reading."""
    rows = [
        (result.id, result.as_of, result.expected, result.measured, result.verdict, result.reading)
        for result in results
    ]
    return list(TABLE_COLUMNS), rows


def result_objects(results: Sequence[ClaimResult]) -> tuple[list[str], list[tuple]]:
    """Every field of every result, for JSON: one object per claim with all its numbers."""
    return list(RESULT_FIELDS), [
        tuple(getattr(result, name) for name in RESULT_FIELDS) for result in results
    ]


def render_results(results: Sequence[ClaimResult], fmt: str) -> str:
    """The results as ``hfstats check`` prints them.

    json: one object per claim with every field and number. table and markdown: the summary
    table, then each claim's caveats (they are part of the verdict, not a footnote to skip).
    """
    if fmt == "json":
        columns, rows = result_objects(results)
        return render(rows, columns, "json")
    columns, rows = results_table(results)
    lines = [render(rows, columns, fmt), ""]
    for result in results:
        if fmt == "markdown":
            lines.append(f"**{markdown_cell(result.id)}**: {markdown_cell(result.statement)}")
            lines += [f"- {markdown_cell(caveat)}" for caveat in result.caveats]
        else:
            # Statements and caveats quote claims files, which may be anyone's.
            lines.append(f"{result.id}: {escape_control(result.statement)}")
            lines += [f"  - {escape_control(caveat)}" for caveat in result.caveats]
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def failed_measured(results: Sequence[ClaimResult]) -> list[ClaimResult]:
    """Measured claims that do not hold. ``indeterminate`` is not a failure: the data cannot
    decide, which a docs page should state rather than have CI reject."""
    return [r for r in results if r.kind == "measured" and r.verdict == DOES_NOT_HOLD]
