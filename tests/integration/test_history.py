"""`python -m recycler history` against the emulator with a real ledger table: rows written by real runs,
read back as a table, JSON and CSV; paginated reads; the first-contact errors of `plan`."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from recycler.aws.ledger import Ledger
from recycler.cli import history
from recycler.cli.main import main
from recycler.local import emulator
from tests.conftest import NOW, Stack
from tests.faults.harness import recycle


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exit_:  # argparse refuses a flag
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def recycled(stack: Stack) -> list[dict[str, Any]]:
    """Two runs: web and api recycled, then web again (forced); web's second replacement fails."""
    stack.world.group("web", [9, 5])
    stack.world.group("api", [8, 4])
    stack.prove(stack.world.images[0])
    stack.world.publish_patched_image()
    first = recycle(stack)
    emulator.sabotage("web", "launch-failed")
    second = recycle(stack, groups=["web"], force=True)
    return [g.model_dump(mode="json") | {"run_id": r.run_id} for r in (first, second) for g in r.groups]


def test_history_json_newest_first_with_images_and_waits(
    stack: Stack, recycled: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "history", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert (rows[0]["group"], rows[0]["outcome"]) == ("web", "failed")  # the second run's
    assert sorted((r["group"], r["outcome"]) for r in rows[1:]) == [("api", "recycled"), ("web", "recycled")]
    assert rows == sorted(rows, key=lambda r: r["time"], reverse=True)
    by_run = {(g["group"], g["run_id"]): g for g in recycled}
    for row in rows:
        report = by_run[(row["group"], row["run_id"])]
        assert row["victim"] == report["victim"]["instance_id"]
        replacement = report["replacement"] or {}
        assert row["replacement"] == replacement.get("instance_id")
        assert row["victim_image"] == stack.world.images[0]
        assert row["replacement_image"] == replacement.get("image_id")
        if row["outcome"] == "recycled":
            assert row["replacement_image"] == stack.world.images[1]
        assert row["waited_seconds"] == report["waited_seconds"]
        assert row["reason"] == report["reason"] and row["mode"] == "replace"


def test_history_for_named_groups_queries_only_them(
    stack: Stack,
    recycled: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    operations: list[str] = []
    original = Ledger._pages

    def spied(self: Ledger, operation: str, **request: Any) -> Any:
        operations.append(operation)
        return original(self, operation, **request)

    monkeypatch.setattr(Ledger, "_pages", spied)
    code, out, _ = cli(capsys, "history", "--group", "api", "--json")
    assert code == 0 and {r["group"] for r in json.loads(out)} == {"api"}
    assert operations == ["query"]
    cli(capsys, "history", "--json")
    assert operations == ["query", "scan"]


def test_history_csv_and_table(
    stack: Stack, recycled: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "history", "--csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == history.COLUMNS and len(rows) == 3
    code, out, _ = cli(capsys, "history")
    assert code == 0
    assert "recycler history: 3 recycles in the last 30 days (the ledger keeps 90)" in out
    assert f"{stack.world.images[0]} → {stack.world.images[1]}" in out


def test_reads_follow_every_page_and_skip_expired_or_older_rows(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger(stack.table, session=stack.world.session)
    for day in range(12):
        stack.world.session.client("dynamodb").put_item(
            TableName=stack.table,
            Item={
                "group_name": {"S": "web"},
                "record": {"S": f"run#{(NOW - timedelta(days=day)).isoformat()}#run-{day}"},
                "run_id": {"S": f"run-{day}"},
                "status": {"S": "recycled"},
                # day 3 expired (TTL passed, not yet deleted: reads still return it)
                "expires_at": {"N": str(int((NOW + timedelta(days=-1 if day == 3 else 80)).timestamp()))},
            },
        )
    original = ledger._dynamodb.query
    pages: list[int] = []

    def two_at_a_time(**request: Any) -> Any:
        response = original(**request, Limit=2)
        pages.append(len(response["Items"]))
        return response

    monkeypatch.setattr(ledger._dynamodb, "query", two_at_a_time)
    rows = ledger.history(["web"], NOW - timedelta(days=7.5), NOW + timedelta(seconds=1))
    assert [r["run_id"] for r in rows] == [f"run-{d}" for d in (0, 1, 2, 4, 5, 6, 7)]
    assert len(pages) >= 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "must be greater than 0"),
        (["--days", "soon"], "is not a number"),
        (["--json", "--csv"], "--json and --csv contradict each other"),
        (["--grop", "web"], "unrecognized arguments"),
    ],
)
def test_bad_flags_exit_two(
    stack: Stack, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = cli(capsys, "history", *args)
    assert code == 2 and message in err and out == ""


def test_no_ledger_table_says_where_to_find_it(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RECYCLER_LEDGER_TABLE")
    code, _, err = cli(capsys, "history")
    assert code == 2 and "RECYCLER_LEDGER_TABLE is not set" in err and "LedgerTable output" in err


def test_a_missing_table_is_named(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECYCLER_LEDGER_TABLE", "no-such-table")
    code, _, err = cli(capsys, "history", "--group", "web")
    assert code == 2 and "check RECYCLER_LEDGER_TABLE" in err


def test_no_region_is_the_same_message_as_plan(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    code, _, err = cli(capsys, "history")
    assert code == 2 and "recycler: cannot run: no AWS region: pass --region" in err


def test_no_credentials_is_the_same_message_as_plan(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, _, err = cli(capsys, "history")
    assert code == 2 and "no AWS credentials" in err


def test_denied_names_the_permission(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(self: Ledger, operation: str, **request: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "Scan")

    monkeypatch.setattr(Ledger, "_pages", denied)
    code, _, err = cli(capsys, "history")
    assert code == 2 and "not authorized: the caller needs dynamodb:Scan" in err
