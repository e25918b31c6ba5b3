"""How a build's objects were placed: rows per rule (the rule that placed each row's labelled object) and,
where the floor rule was in force, the samples it could not place, per (foreground, background, reason):
placed by the uniform rule instead (`auto`) or left out (`--placement floor`). Each shard counts its own
rows; the build adds the shards' counts, so the totals do not depend on the engine, the number of workers
or the order shards finish in."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..rules import FloorMiss, PlacementRule

Miss = tuple[int, int, FloorMiss]  # (fg_id, bg_id, reason)


@dataclass
class PlacementCounts:
    rules: Counter = field(default_factory=Counter)  # PlacementRule -> rows
    fallbacks: Counter = field(default_factory=Counter)  # Miss -> rows placed by the uniform rule instead
    left_out: Counter = field(default_factory=Counter)  # Miss -> samples not built

    def merge(self, other: "PlacementCounts") -> None:
        self.rules.update(other.rules)
        self.fallbacks.update(other.fallbacks)
        self.left_out.update(other.left_out)

    @classmethod
    def total(cls, counts) -> "PlacementCounts":
        merged = cls()
        for each in counts:
            merged.merge(each)
        return merged

    @property
    def rows(self) -> int:
        return sum(self.rules.values())

    def reasons(self, misses: Counter) -> dict[FloorMiss, int]:
        """`misses` (fallbacks or left_out) added up per reason, in FloorMiss order."""
        totals = Counter()
        for (_, _, reason), count in misses.items():
            totals[reason] += count
        return {reason: totals[reason] for reason in FloorMiss if totals[reason]}

    def describe(self) -> str:
        """One line for the build's summary: rows per rule, then the floor rule's misses per reason."""
        rules = ", ".join(f"{rule} {self.rules[rule]:,}" for rule in PlacementRule if self.rules[rule])
        line = f"placed: {rules or 'nothing'}"
        for what, misses in (("fell back to uniform", self.fallbacks), ("left out", self.left_out)):
            if misses:
                reasons = ", ".join(f"{reason} {count:,}" for reason, count in self.reasons(misses).items())
                line += f"; {what} {sum(misses.values()):,} ({reasons})"
        return line

    def to_json(self) -> dict:
        """Sorted, so equal counts give equal bytes."""
        return {
            "rules": {str(rule): self.rules[rule] for rule in PlacementRule if self.rules[rule]},
            "fallbacks": _records(self.fallbacks),
            "left_out": _records(self.left_out),
        }

    @classmethod
    def from_json(cls, data: dict) -> "PlacementCounts":
        """The record `to_json` wrote; ValueError says what is wrong with another."""
        if not isinstance(data, dict) or set(data) != {"rules", "fallbacks", "left_out"}:
            raise ValueError("must be an object of rules, fallbacks and left_out")
        rules = data["rules"]
        if not isinstance(rules, dict) or not all(key in _RULES and _count(n) for key, n in rules.items()):
            raise ValueError(f"rules must map {', '.join(_RULES)} to positive integers")
        return cls(Counter({PlacementRule(k): n for k, n in rules.items()}),
                   _misses(data["fallbacks"], "fallbacks"), _misses(data["left_out"], "left_out"))


_RULES = (PlacementRule.FLOOR.value, PlacementRule.UNIFORM.value, PlacementRule.GROUND.value)
_REASONS = tuple(reason.value for reason in FloorMiss)


def _records(misses: Counter) -> list[dict]:
    return [{"fg_id": fg, "bg_id": bg, "reason": str(reason), "count": count}
            for (fg, bg, reason), count in sorted(misses.items(), key=lambda item: (item[0][0], item[0][1], str(item[0][2])))]


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _misses(records, where: str) -> Counter:
    if not isinstance(records, list):
        raise ValueError(f"{where} must be a list")
    misses = Counter()
    for i, record in enumerate(records):
        good = (isinstance(record, dict) and set(record) == {"fg_id", "bg_id", "reason", "count"}
                and _count(record["count"]) and record["reason"] in _REASONS
                and all(isinstance(record[k], int) and not isinstance(record[k], bool) and record[k] >= 0 for k in ("fg_id", "bg_id")))
        if not good:
            raise ValueError(f"{where}[{i}] must hold fg_id, bg_id (integers), reason ({', '.join(_REASONS)}) and a positive count")
        misses[record["fg_id"], record["bg_id"], FloorMiss(record["reason"])] += record["count"]
    return misses
