"""Benchmark-only emulator speed-ups. moto answers DescribeInstances(InstanceIds=...) by turning the
ids into an instance-id filter and fnmatch-ing every instance against every id, which is quadratic
at fleet scale (about 50 s per 1,000-group plan). For that one filter without wildcards, set
membership gives the same answer in linear time. recycler's requests and moto's answers are
unchanged; only the emulator's own cost drops."""

from __future__ import annotations

from typing import Any

WILDCARDS = ("*", "?", "[")


def install() -> None:
    from moto.ec2.models import instances

    original = instances.filter_reservations  # type: ignore[attr-defined]
    if getattr(original, "bench_fast_path", False):
        return

    def filter_reservations(reservations: list[Any], filter_dict: Any) -> list[Any]:
        if not (isinstance(filter_dict, dict) and set(filter_dict) == {"instance-id"}):
            return original(reservations, filter_dict)
        wanted = filter_dict["instance-id"]
        if any(w in value for value in wanted for w in WILDCARDS):
            return original(reservations, filter_dict)
        ids = set(wanted)
        result = []
        for reservation in reservations:
            kept = [instance for instance in reservation.instances if instance.id in ids]
            if kept:
                reservation.instances = kept
                result.append(reservation)
        return result

    filter_reservations.bench_fast_path = True  # type: ignore[attr-defined]
    instances.filter_reservations = filter_reservations  # type: ignore[attr-defined]

    # get_instance scans all_instances(), which shallow-copies every reservation on every lookup;
    # the same scan over the reservations themselves returns the same instance objects.
    from moto.ec2.exceptions import InvalidInstanceIdError

    def get_instance(self: Any, instance_id: str) -> Any:
        for reservation in tuple(self.reservations.values()):  # snapshot: other threads add to it
            for instance in reservation.instances:
                if instance.id == instance_id:
                    return instance
        raise InvalidInstanceIdError(instance_id)

    instances.InstanceBackend.get_instance = get_instance  # type: ignore[method-assign]


def serialize_requests() -> None:
    """moto's backends are not thread-safe (its tag store can change size mid-iteration under
    concurrent launches). Answer one request at a time, like a single-threaded server, while
    recycler still runs its groups concurrently."""
    import threading

    from moto.core.botocore_stubber import BotocoreStubber

    if getattr(BotocoreStubber, "bench_serialized", False):
        return
    lock = threading.Lock()
    process_request = BotocoreStubber.process_request

    def serialized(self: Any, request: Any) -> Any:
        with lock:
            return process_request(self, request)

    BotocoreStubber.process_request = serialized  # type: ignore[method-assign]
    BotocoreStubber.bench_serialized = True  # type: ignore[attr-defined]
