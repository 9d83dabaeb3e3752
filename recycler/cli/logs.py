"""The workflow's log lines at the operator's terminal: `recycler: warning: web: <a sentence> (facts)`,
not `WARNING recycler.workflow.reports: stale AMI`; each said once per group; nothing said twice."""

from __future__ import annotations

import logging
import os
import sys

# The workflow logs for CloudWatch: a terse message, its facts in `extra` (group, image_id, error...).
# At the CLI's terminal (OperatorWords below) each reads as a sentence; None: not shown
# there, because the CLI has already said it once for the whole run (RECYCLER_LEDGER_TABLE not set).
LOG_IN_OPERATOR_WORDS: dict[str, str | None] = {
    "stale AMI": "the replacement runs the same AMI as the victim: the launch template pins an old AMI",
    "zones unknown": "could not read the group's Availability Zones",
    "expected waits unreadable: plan order": "the ledger's last health waits could not be read: groups "
    "go in plan order",
    "surge rollback failed": "the surge could not be undone",
    "ledger update failed": "the ledger could not be updated",
    "alert not delivered": "an alert was not delivered",
    "events not delivered": "the EventBridge events were not delivered",
    "launch path revert": "launch path put back",
    "no ledger configured: at-most-once per interval is not enforced": None,
}
# The facts in `extra`, named as an operator reads them ("image ami-...", not "image_id=ami-...").
LOG_FIELD_WORDS = {"image_id": "image", "error": "error", "subject": "alert", "run_id": "run", "bus": "bus"}


# What every LogRecord holds by itself: anything else on a record came in `extra`.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class OperatorWords(logging.Formatter):
    """A log line as the operator reads it among the progress lines: `recycler: warning: web: the
    replacement runs the same AMI ... (image ami-...)`, not `WARNING recycler.workflow.reports: stale AMI`
    and not a bare `stale AMI` without the group it is about."""

    def format(self, record: logging.LogRecord) -> str:
        extra = {
            k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS and v not in (None, "", [], {})
        }
        group = extra.pop("group", None)
        words = LOG_IN_OPERATOR_WORDS.get(str(record.msg)) or record.getMessage()
        facts = "; ".join(f"{LOG_FIELD_WORDS.get(k, k.replace('_', ' '))} {v}" for k, v in extra.items())
        text = f"recycler: {record.levelname.lower()}: {f'{group}: ' if group else ''}{words}"
        text += f" ({facts})" if facts else ""
        if record.exc_info and os.environ.get("RECYCLER_DEBUG") == "1":
            text += "\n" + self.formatException(record.exc_info)
        return text


class NotSaidTwice(logging.Filter):
    """Drops a log message the CLI has already said for the whole run (LOG_IN_OPERATOR_WORDS: None)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            str(record.msg) in LOG_IN_OPERATOR_WORDS and LOG_IN_OPERATOR_WORDS[str(record.msg)] is None
        )


class SaidOnce(logging.Filter):
    """A warning repeated for the same group (a retried read) is said once."""

    def __init__(self) -> None:
        super().__init__()
        self.said: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        # Per group: the same warning about two groups is two facts.
        message = f"{getattr(record, 'group', '')}\0{record.getMessage()}"
        if message in self.said:
            return False
        self.said.add(message)
        return True


def configure_logging(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OperatorWords())
    handler.addFilter(NotSaidTwice())
    handler.addFilter(SaidOnce())
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
