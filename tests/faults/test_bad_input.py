"""Bad input corpus: every malformed payload, argument set or setting is refused before anything is
read or terminated, with a message that names the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recycler.cli.main import main
from recycler.models import InputError, load_settings, parse_payload
from tests.conftest import World, invoke_durable

PAYLOADS: list[tuple[Any, str]] = [
    ({"dry_run": "yes"}, "dry_run"),
    ({"dry_run": 1}, "dry_run"),
    ({"dryRun": True}, "dryRun"),
    ({"grups": ["web"]}, "grups"),
    ({"groups": ["web"], "extra": {"nested": 1}}, "extra"),
    ({"groups": "web"}, "groups"),
    ({"groups": []}, "groups"),
    ({"groups": [""]}, "groups"),
    ({"groups": ["a:b"]}, "groups"),
    ({"groups": ["x" * 256]}, "groups"),
    ({"groups": [1]}, "groups"),
    ({"groups": ["web", "web"]}, "groups"),
    ({"groups": ["web\n"]}, "groups"),
    ({"groups": None, "force": "true"}, "force"),
    ({"force": None}, "force"),
    ({"max_groups": 0}, "max_groups"),
    ({"max_groups": -1}, "max_groups"),
    ({"max_groups": 10**9}, "max_groups"),
    ({"max_groups": 1.5}, "max_groups"),
    ({"max_groups": "5"}, "max_groups"),
    ({"health_timeout_seconds": 5}, "health_timeout_seconds"),
    ({"health_timeout_seconds": 10**7}, "health_timeout_seconds"),
    ({"health_timeout_seconds": True}, "health_timeout_seconds"),
    ({"poll_seconds": 0}, "poll_seconds"),
    ({"poll_seconds": -15}, "poll_seconds"),
    ({"poll_seconds": 99999}, "poll_seconds"),
    ({"seed": -1}, "seed"),
    ({"seed": "abc"}, "seed"),
    ({"source": "cron"}, "source"),
    ("not json", "payload"),
    ([{"groups": ["web"]}], "payload"),
    (42, "payload"),
]

ARGUMENTS: list[tuple[list[str], str]] = [
    (["run", "--poll", "0"], "--poll"),
    (["run", "--poll", "abc"], "--poll"),
    (["run", "--health-timeout", "999999999"], "--health-timeout"),
    (["run", "--health-timeout", "-1"], "--health-timeout"),
    (["run", "--group", ""], "--group"),
    (["run", "--group", "a:b"], "--group"),
    (["run", "--group", "web", "--group", "web"], "--group"),
    (["run", "--max-groups", "0"], "--max-groups"),
    (["run", "--seed", "-5"], "--seed"),
    (["run", "--unknown"], "--unknown"),
    (["frobnicate"], "frobnicate"),
    (["plan", "--max-groups", "lots"], "--max-groups"),
]

SETTINGS: list[tuple[str, str, str]] = [
    ("RECYCLER_MAX_CONCURRENCY", "abc", "RECYCLER_MAX_CONCURRENCY"),
    ("RECYCLER_MAX_CONCURRENCY", "500", "RECYCLER_MAX_CONCURRENCY"),
    ("RECYCLER_BLACKOUT_WINDOWS", "tomorrow", "RECYCLER_BLACKOUT_WINDOWS"),
    ("RECYCLER_BLACKOUT_WEEKDAYS", "Caturday", "RECYCLER_BLACKOUT_WEEKDAYS"),
    ("RECYCLER_DRY_RUN", "perhaps", "RECYCLER_DRY_RUN"),
    ("RECYCLER_UNKNOWN_KNOB", "1", "RECYCLER_UNKNOWN_KNOB"),
]


def test_the_corpus_is_large_enough() -> None:
    assert len(PAYLOADS) + len(ARGUMENTS) + len(SETTINGS) >= 30


@pytest.mark.parametrize(("payload", "field"), PAYLOADS, ids=[f"payload-{n}" for n in range(len(PAYLOADS))])
def test_lambda_refuses_bad_payloads(world: World, terminations: list[Any], payload: Any, field: str) -> None:
    world.group("web", [9, 5])
    status, _, message = invoke_durable(payload, timeout=60)
    assert status == "FAILED"
    assert field in message, message
    assert terminations == []


@pytest.mark.parametrize(("argv", "flag"), ARGUMENTS, ids=[" ".join(a) for a, _ in ARGUMENTS])
def test_cli_refuses_bad_arguments(
    world: World, terminations: list[Any], capsys: pytest.CaptureFixture[str], argv: list[str], flag: str
) -> None:
    world.group("web", [9, 5])
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code  # type: ignore[assignment]
    assert code == 2
    assert flag in capsys.readouterr().err
    assert terminations == []


@pytest.mark.parametrize(("variable", "value", "named"), SETTINGS, ids=[f"{v}={x}" for v, x, _ in SETTINGS])
def test_bad_settings_stop_before_anything_is_read(
    world: World,
    terminations: list[Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    named: str,
) -> None:
    world.group("web", [9, 5])
    monkeypatch.setenv(variable, value)
    assert main(["run"]) == 2
    assert named in capsys.readouterr().err
    assert terminations == []


def test_the_configuration_docs_quote_the_messages_users_really_get() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    with pytest.raises(InputError) as payload_error:
        parse_payload({"dry_run": "yes", "grups": ["web"]})
    with pytest.raises(InputError) as settings_error:
        load_settings({"RECYCLER_MAX_CONCURRENCY": "500"})
    assert f"`{payload_error.value}`" in docs
    assert f"`{settings_error.value}`" in docs
