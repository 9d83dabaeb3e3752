"""The recycle run, written against a small port so the Lambda, the CLI and the tests share it.

Read top down: `port` (the contract with the runtime), `state` (what is checkpointed), `planning` and
`packing` (the plan), `run` (the whole run), `group/` (one group's recycle), `health` (the check a
recycle waits on), `reports` (every report the run makes).
"""
