"""providers/README.md's tables say what each driver class declares.

Each `## <cloud>` section holds one row per resource type of that provider: the fields it
updates in place (`UPDATABLE`) and those that force a replacement (`FORCE_NEW`). The rows are
compared with the driver classes themselves, so a driver that moves a field makes this fail
until its row says so. Columns are found by their headers ("updatable ...", "forces
replacement"; the last one says what the test cloud enforces), so a table may carry more.
In a field cell, parenthesised text is commentary; the fields are the backticked names, or in
a cell without backticks the comma-separated names before the first ";".
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from providers.driver_base import DriverBase

TABLE = Path(__file__).resolve().parents[1] / "providers" / "README.md"
CLOUDS = ("aws", "gcp", "azure", "digitalocean")


@dataclass(frozen=True)
class Row:
    cloud: str
    resource_type: str
    updatable: frozenset[str]
    force_new: frozenset[str]
    rules: str


def fields(cell: str) -> frozenset[str]:
    """The field names a cell lists, leaving out its commentary."""
    text = cell
    while re.search(r"\([^()]*\)", text):
        text = re.sub(r"\([^()]*\)", "", text)
    if "`" in text:
        return frozenset(re.findall(r"`([^`]+)`", text))
    names = (n.strip() for n in text.split(";")[0].split(","))
    return frozenset(n for n in names if re.fullmatch(r"[a-z][a-z0-9_]*", n))


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def rows(text: str) -> list[Row]:
    found: list[Row] = []
    cloud = ""
    columns: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("## "):
            cloud, columns = line[3:].strip().lower(), {}
            continue
        if not cloud or not line.lstrip().startswith("|"):
            continue
        cells = _cells(line)
        if cells[0].lower() == "type":
            for index, header in enumerate(h.lower() for h in cells):
                if header.startswith("updatable"):
                    columns["updatable"] = index
                elif "replacement" in header:
                    columns["force_new"] = index
            columns["rules"] = len(cells) - 1
        elif cells[0].strip("`").startswith("infra.") and len(columns) == 3:
            found.append(
                Row(
                    cloud, cells[0].strip("`"), fields(cells[columns["updatable"]]),
                    fields(cells[columns["force_new"]]), cells[columns["rules"]],
                )
            )  # fmt: skip
    return found


def drivers(cloud: str) -> dict[str, type[DriverBase]]:
    return dict(importlib.import_module(f"providers.{cloud}.drivers").DRIVERS)


TABLE_ROWS = rows(TABLE.read_text())


@pytest.mark.parametrize("cloud", CLOUDS)
def test_each_cloud_has_one_row_per_driver(cloud: str) -> None:
    listed = [r.resource_type for r in TABLE_ROWS if r.cloud == cloud]
    assert len(listed) == len(set(listed)), f"providers/README.md ## {cloud}: a type twice"
    assert sorted(listed) == sorted(drivers(cloud)), (
        f"providers/README.md ## {cloud} lists {sorted(listed)}; "
        f"the provider's drivers are {sorted(drivers(cloud))}"
    )


@pytest.mark.parametrize(
    "row", TABLE_ROWS, ids=[f"{r.cloud}-{r.resource_type}" for r in TABLE_ROWS]
)
def test_a_row_lists_the_drivers_updatable_and_force_new_fields(row: Row) -> None:
    driver = drivers(row.cloud).get(row.resource_type)
    assert driver is not None, f"## {row.cloud}: no driver for {row.resource_type}"
    where = f"providers/README.md ## {row.cloud} {row.resource_type}"
    assert row.force_new == driver.FORCE_NEW, (
        f"{where}: forces replacement lists {sorted(row.force_new)}, "
        f"{driver.__name__}.FORCE_NEW is {sorted(driver.FORCE_NEW)}"
    )
    assert row.updatable == driver.UPDATABLE, (
        f"{where}: updatable lists {sorted(row.updatable)}, "
        f"{driver.__name__}.UPDATABLE is {sorted(driver.UPDATABLE)}"
    )
    assert row.rules, f"{where}: say what the test cloud enforces"


def test_the_reader_sees_fields_not_commentary() -> None:
    found = rows(
        "## GCP\n| type | updatable in place | forces replacement | rules |\n|---|---|---|---|\n"
        "| infra.vpc | `subnets` (adding `one`) | — | none |\n"
        "## azure\n| type | ARM type | updatable in place | forces replacement | fake enforces |\n"
        "| --- | --- | --- | --- | --- |\n"
        "| infra.cache | Microsoft.Cache/redis | instance_type, tier (by PATCH; twice) | "
        "location; tier Standard -> Basic | the model |\n"
    )
    assert found == [
        Row("gcp", "infra.vpc", frozenset({"subnets"}), frozenset(), "none"),
        Row("azure", "infra.cache", frozenset({"instance_type", "tier"}),
            frozenset({"location"}), "the model"),
    ]  # fmt: skip
