"""The run-level brakes recycler reads before it acts: stop-condition alarms (CloudWatch) and the kill
switch (an SSM parameter, read fresh every time)."""

from __future__ import annotations

from collections.abc import Sequence

from recycler.aws.clients import OnClients, chunks

ALARM_BATCH_SIZE = 100  # DescribeAlarms AlarmNames maximum


class Brakes(OnClients):
    def firing_alarms(self, names: Sequence[str]) -> list[str]:
        """Stop-condition alarms in ALARM; an alarm that does not exist counts as firing (unknown)."""
        found: dict[str, str] = {}
        for batch in chunks(list(names), ALARM_BATCH_SIZE):
            paginator = self.cloudwatch.get_paginator("describe_alarms")
            for page in paginator.paginate(
                AlarmNames=list(batch), AlarmTypes=["MetricAlarm", "CompositeAlarm"]
            ):
                for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                    found[alarm["AlarmName"]] = alarm["StateValue"]
        firing = [name for name in names if found.get(name) == "ALARM"]
        missing = [f"{name} (not found)" for name in names if name not in found]
        return firing + missing

    def parameter(self, name: str) -> str | None:
        """Read an SSM parameter fresh (no cache); None when it does not exist."""
        from aws_lambda_powertools.utilities.parameters import SSMProvider
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = SSMProvider(boto3_client=self.ssm).get(name, max_age=0)
        except GetParameterError as error:
            if "ParameterNotFound" in str(error.__cause__ or error):
                return None
            raise
        return str(value)
