"""Issue 15, defect 2 (the results side): records and result files of the wrong type give typed
errors naming the file and the field, and the CLI turns them into exit code 2 and one line.

Each test injects one fault into a fabricated output folder (a string metric, a malformed
``correct``, a wrong JSON shape, a torn journal, a file where a folder belongs); before, the
commands ended in a raw traceback (or silently used the bad value).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from robustmq.cli import main
from robustmq.exceptions import RecordError, ResultsFileError
from robustmq.report import load_run
from robustmq.results.record import Record

MakeRecord = Callable[..., Record]
MakeRun = Callable[..., Path]
COMMANDS = {
    "report": ["report", "--no-plots"],
    "findings": ["findings", "--n-boot", "10"],
    "compare": ["compare", "{good}"],
    "merge": ["merge", "{good}", "--output", "{out}"],
}


def _error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI; assert exit code 2 and a one-line message, return it."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("robustmq: error: ")
    assert err.count("\n") == 1, err
    return err


def _damaged(tmp_path: Path, make_record: MakeRecord, make_run: MakeRun, **fields: Any) -> Path:
    """An output folder whose one record has ``fields`` replaced (``metrics.x``: one metric)."""
    folder = make_run(tmp_path / "bad", [make_record()])
    data = json.loads((folder / "results.json").read_text())
    record = data["results"][0]
    for name, value in fields.items():
        if name.startswith("metrics."):
            record["metrics"][name.split(".", 1)[1]] = value
        else:
            record[name] = value
    (folder / "results.json").write_text(json.dumps(data))
    return folder


def _argv(
    command: str, folder: Path, tmp_path: Path, make_record: MakeRecord, make_run: MakeRun
) -> list[str]:
    """``command``'s arguments with ``folder`` as the (first) run; a good run beside it."""
    good = make_run(tmp_path / "good", [make_record()])
    filled = [a.format(good=good, out=tmp_path / "out") for a in COMMANDS[command]]
    return [*filled[:1], str(folder), *filled[1:]]


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"metrics.accuracy": "abc"}, "field 'metrics.accuracy' is 'abc' (str); expected a number"),
        ({"metrics.accuracy": None}, "field 'metrics.accuracy' is None (NoneType)"),
        ({"correct": "!!not base64"}, "field 'correct' is '!!not base64' (str); expected base64"),
        ({"correct": 5}, "field 'correct' is 5 (int); expected a string"),
        ({"correct": "AA=="}, "field 'correct' decodes to 1 byte; expected 2"),
        ({"metrics": [1]}, "field 'metrics' is [1] (list); expected an object"),
    ],
    ids=["string-metric", "null-metric", "not-base64", "int-correct", "short-correct", "list"],
)
def test_a_mistyped_record_is_exit_2_naming_file_and_field(
    tmp_path: Path,
    make_record: MakeRecord,
    make_run: MakeRun,
    capsys: pytest.CaptureFixture[str],
    command: str,
    fields: dict[str, Any],
    expected: str,
) -> None:
    """Defect 2 (report/compare/findings/merge on a non-numeric metric or a malformed ``correct``:
    raw TypeError/ValueError, or silently wrong): every command exits 2 naming file and field."""
    folder = _damaged(tmp_path, make_record, make_run, **fields)
    err = _error(_argv(command, folder, tmp_path, make_record, make_run), capsys)
    assert f"{folder / 'results.json'}: results[0]: record 'resnet18-fp32-clean': " in err
    assert expected in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[1, 2]", "expected an object with 'run' and 'results'"),
        ('{"results": "abc"}', "got dict ('results': str)"),
        ('{"run": [], "results": []}', "field 'run' is list; expected an object"),
        ('{"run": {"settings": 3}, "results": []}', "field 'run.settings' is int"),
        ('{"run": {}, "results": []}', "holds no records"),
    ],
    ids=["list", "results-string", "run-list", "settings-int", "empty"],
)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_results_file_of_the_wrong_shape_is_exit_2(
    tmp_path: Path,
    make_record: MakeRecord,
    make_run: MakeRun,
    capsys: pytest.CaptureFixture[str],
    command: str,
    content: str,
    expected: str,
) -> None:
    """Defect 2 (wrong JSON shapes: AttributeError/TypeError tracebacks, or a crash on an empty
    table): every command exits 2 naming the file."""
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "results.json").write_text(content)
    err = _error(_argv(command, folder, tmp_path, make_record, make_run), capsys)
    assert f"{folder / 'results.json'}: " in err
    assert expected in err


def test_a_torn_journal_is_exit_2_or_read_past(
    tmp_path: Path, make_record: MakeRecord, capsys: pytest.CaptureFixture[str]
) -> None:
    """Defect 2 (report on a torn journal: TypeError in the table renderer): a journal of torn
    lines only is exit 2 naming it; an entry appended to a torn line is still read."""
    entry = json.dumps({"key": "k", "record": make_record().to_json()}, sort_keys=True)
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "journal.jsonl").write_text(entry[:300])
    err = _error(["report", "--no-plots", str(folder)], capsys)
    assert f"{folder / 'journal.jsonl'}: holds no complete record (1 torn lines)" in err
    (folder / "journal.jsonl").write_bytes(entry[:300].encode() + b"\xe9" + entry.encode() + b"\n")
    assert [r.cell for r in load_run(folder).records] == ["resnet18-fp32-clean"]
    assert main(["report", "--no-plots", str(folder)]) == 0


def test_merge_into_a_file_is_exit_2_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Defect 2 (robustmq merge --output FILE: FileExistsError after merging): exit 2 naming
    --output, before the folders are read (so a missing folder is not what is reported)."""
    target = tmp_path / "file"
    target.write_text("")
    err = _error(["merge", str(tmp_path / "missing"), "--output", str(target)], capsys)
    assert f"--output={target}: is a file; expected a folder to write into" in err


def test_a_record_names_the_bad_field() -> None:
    """Defect 2 (Record.from_json took any type): the error is a RecordError (a ValueError)
    naming the cell and the field; a list instead of an object is one too."""
    with pytest.raises(RecordError, match=r"record 'c': fields \['arch'"):
        Record.from_json({"cell": "c"})
    with pytest.raises(RecordError, match="a record is a JSON object, not"):
        Record.from_json([1, 2])  # type: ignore[arg-type]
    assert issubclass(ResultsFileError, ValueError)
