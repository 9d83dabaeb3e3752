"""The one place boto3 clients are made: every adapter shares its session, retry mode and timeouts."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_elb import ElasticLoadBalancingClient
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_ssm import SSMClient

# Standard retry mode with a generous attempt budget: throttling on describe calls is retried with
# backoff by botocore instead of failing the run; adaptive mode adds client-side rate limiting.
RETRY_CONFIG = Config(retries={"max_attempts": 10, "mode": "adaptive"}, connect_timeout=10, read_timeout=30)


def client(service: str, session: boto3.Session | None = None, region: str | None = None) -> Any:
    return (session or boto3.Session()).client(  # type: ignore[call-overload]
        service, region_name=region, config=RETRY_CONFIG
    )


class Clients:
    """Lazily built clients of one session, shared by the adapters of a run."""

    def __init__(self, session: boto3.Session | None = None) -> None:
        self.session = session or boto3.Session()
        self._clients: dict[str, Any] = {}
        # boto3 clients are thread-safe once built, but building them from one Session is not.
        self._lock = threading.Lock()

    def get(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = client(service, self.session)
            return self._clients[service]


class OnClients:
    """An adapter over the run's shared clients, each client typed for the calls made on it."""

    def __init__(self, clients: Clients) -> None:
        self._clients = clients

    @property
    def autoscaling(self) -> AutoScalingClient:
        return self._clients.get("autoscaling")  # type: ignore[no-any-return]

    @property
    def ec2(self) -> EC2Client:
        return self._clients.get("ec2")  # type: ignore[no-any-return]

    @property
    def elbv2(self) -> ElasticLoadBalancingv2Client:
        return self._clients.get("elbv2")  # type: ignore[no-any-return]

    @property
    def elb(self) -> ElasticLoadBalancingClient:
        return self._clients.get("elb")  # type: ignore[no-any-return]

    @property
    def lattice(self) -> Any:  # no type stubs installed for vpc-lattice
        return self._clients.get("vpc-lattice")

    @property
    def ecs(self) -> ECSClient:
        return self._clients.get("ecs")  # type: ignore[no-any-return]

    @property
    def cloudwatch(self) -> CloudWatchClient:
        return self._clients.get("cloudwatch")  # type: ignore[no-any-return]

    @property
    def ssm(self) -> SSMClient:
        return self._clients.get("ssm")  # type: ignore[no-any-return]


def chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
