"""`validate`'s check of the placement rules a dataset records: every row's and every object's
`placement_rule` is a rule that places, a `--placement floor` build (strict) holds only `floor` rows, and
each shard holds the rows per rule its manifest entry counts."""

from __future__ import annotations

from collections import Counter

from ..rules import PlacementRule

PLACING = {PlacementRule.FLOOR.value, PlacementRule.UNIFORM.value, PlacementRule.GROUND.value}


def check_placement_rules(shard: dict, rows: list[dict], options: dict, report) -> None:
    file = shard["path"]
    strict = options["placement"] == PlacementRule.FLOOR
    for row, r in enumerate(rows):
        rules = [r["placement_rule"], *(o.get("placement_rule") for o in r.get("objects") or [])]
        wrong = [rule for rule in rules if rule not in PLACING or (strict and rule != PlacementRule.FLOOR)]
        if wrong:
            allowed = "floor (a --placement floor build)" if strict else "floor, uniform or ground"
            report.fail(file, row, "placement_rule", f"{wrong[0]!r}, must be {allowed}")
    recorded = (shard.get("placements") or {}).get("rules")
    found = dict(sorted(Counter(r["placement_rule"] for r in rows).items()))
    if recorded is not None and found != dict(sorted(recorded.items())):
        report.fail(file, None, "placement counts", f"rows per rule {found}, the manifest counts {recorded}")
