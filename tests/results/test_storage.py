"""results.json: written and read back; a file of the wrong shape is an error naming it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from robustmq.exceptions import ResultsFileError
from robustmq.results.record import Record
from robustmq.results.storage import read_results, write_results

MakeRecord = Callable[..., Record]


def test_results_round_trip(tmp_path: Path, make_record: MakeRecord) -> None:
    """read_results gives back the run and the records write_results wrote."""
    record = make_record(metrics={"ar": 0.25})
    write_results(tmp_path, {"settings": {"seed": 0}}, [record])
    run, records = read_results(tmp_path / "results.json")
    assert run == {"settings": {"seed": 0}}
    assert records == [record]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected an object with 'run' and 'results'"),
        ('{"results": {"a": 1}}', r"\('results': dict\)"),
        ('{"run": [], "results": []}', "field 'run' is list; expected an object"),
        ('{"run": {"settings": 3}, "results": []}', "field 'run.settings' is int"),
        ('{"run": {}, "results": [7]}', r"results\[0\]: expected a record object, got int"),
        ('{"run": {}, "results": [{"cell": "x"}]}', r"results\[0\]: record 'x'"),
    ],
)
def test_a_file_of_the_wrong_shape_names_the_file_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    """Not JSON, not the results object, a mistyped run field or a bad record: ResultsFileError."""
    path = tmp_path / "results.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ResultsFileError, match=expected) as info:
        read_results(path)
    assert str(path) in str(info.value)


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    """A path that does not exist: ResultsFileError, not a bare OSError."""
    with pytest.raises(ResultsFileError, match="cannot be read"):
        read_results(tmp_path / "absent.json")


def test_a_bad_record_names_its_index(tmp_path: Path, make_record: MakeRecord) -> None:
    """A record with a mistyped metric: the error names its position in 'results'."""
    good = make_record().to_json()
    bad = {**good, "metrics": {"ar": "high"}}
    (tmp_path / "results.json").write_text(json.dumps({"run": {}, "results": [good, bad]}))
    with pytest.raises(ResultsFileError, match=r"results\[1\]"):
        read_results(tmp_path / "results.json")
