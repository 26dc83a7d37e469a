"""Records: JSON round trip, the schema version and the normaliser for older files."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from robustmq.results.record import SCHEMA_VERSION, Record, normalize_record

MakeRecord = Callable[..., Record]


def test_a_record_round_trips_through_json_with_its_schema(make_record: MakeRecord) -> None:
    """to_json then from_json gives the same record, stamped with the current schema."""
    record = make_record(metrics={"ar": 0.25})
    data = record.to_json()
    assert data["schema"] == SCHEMA_VERSION
    assert Record.from_json(data) == record


def test_a_version_1_record_is_normalized(make_record: MakeRecord) -> None:
    """A record without ``schema`` (version 1) reads with defaults for the fields it may lack."""
    data = make_record().to_json()
    for key in ("schema", "flags", "versions", "duration_s"):
        del data[key]
    data.update(bits=32, unknown_key="ignored")
    record = Record.from_json(data)
    assert record.bits is None  # float models once carried bits 32
    assert record.flags == []
    assert record.schema == SCHEMA_VERSION
    assert record.model_id == "resnet18-fp32"


def test_a_newer_schema_is_refused_by_name(make_record: MakeRecord) -> None:
    """A record written by a newer RobustMQ is an error naming both versions."""
    data = {**make_record().to_json(), "schema": SCHEMA_VERSION + 1}
    with pytest.raises(ValueError, match=f"schema {SCHEMA_VERSION + 1}.*1..{SCHEMA_VERSION}"):
        normalize_record(data)
