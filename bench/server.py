"""A moto server in its own process, so the benchmark measures only the client, with recycler's
emulator additions installed: `python -m bench.server PORT`.

Seeding thousands of groups over HTTP is far slower than the planning it prepares, so the server
also seeds itself: each JSON line on stdin creates groups through moto's in-process path (the same
backends the HTTP server answers from) and is acknowledged with a line on stdout.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import boto3
from moto import mock_aws
from moto.server import ThreadedMotoServer

from bench import fast_moto
from recycler.local import emulator

REGION = "us-east-1"


def seed(session: boto3.Session, command: dict[str, Any]) -> None:
    autoscaling = session.client("autoscaling")
    templates = list(command["templates"])
    size = int(command["instances"])
    for n in range(int(command["start"]), int(command["end"])):
        name = f"{command['prefix']}{n:04d}"
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateId": templates[n % len(templates)], "Version": "$Latest"},
            MinSize=min(size, 1),
            MaxSize=size + 1,
            DesiredCapacity=size,
            AvailabilityZones=["us-east-1a"],
            Tags=emulator.group_tags(name, {"recycler:enabled": "true"} if command["opted_in"] else {}),
        )


if __name__ == "__main__":
    emulator.install()
    fast_moto.install()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
    server.start()
    in_process = mock_aws()
    in_process.start(reset=False)
    session = boto3.Session(region_name=REGION, aws_access_key_id="bench", aws_secret_access_key="bench")
    print("ready", flush=True)
    for line in sys.stdin:
        seed(session, json.loads(line))
        print("done", flush=True)
