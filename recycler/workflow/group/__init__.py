"""One group's recycle, as siblings over one shared context (`context.py`), none importing another's
internals: `preflight` (re-read and claim before acting), `replace` and `surge` (the two ways to act,
one signature, chosen by mode), `drain` (an ECS host's drain, a value that carries its own undo), and
`recycle` (the order they run in, the ledger and the alert)."""
