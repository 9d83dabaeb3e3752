"""The recycle run, written against a small port so the Lambda, the CLI and the tests share it.

Read top down: `port` (the contract with the runtime), `state` (what is checkpointed), `planning`,
`run` (the whole run), `recycle` (one group), `health` (the check a recycle waits on).
"""

from recycler.workflow.planning import PlanTooLarge, plan
from recycler.workflow.port import Port, Services
from recycler.workflow.run import run

__all__ = ["PlanTooLarge", "Port", "Services", "plan", "run"]
