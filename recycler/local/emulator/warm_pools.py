"""Auto Scaling warm pools: a scale-out takes the pool's instances first, and they come on the image
they were launched with when the pool was filled, not the launch template's current one. moto keeps
no such image: PutWarmPool here remembers it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from recycler.local.emulator.state import current_state


def take_from_warm_pool(group: Any, launched: Sequence[str]) -> set[str]:
    """AWS (User Guide, "Warm pools"): a scale-out takes instances from the warm pool first; they keep
    the image they were launched with when the pool was filled. The pool refills from the current
    launch template, so only as many launches as the pool held come with the old image."""
    stock = current_state().warm_pools.get(group.name)
    if not stock or getattr(group, "warm_pool", None) is None:
        return set()
    pooled = set()
    for state in group.instance_states:
        if state.instance.id in launched and stock:
            state.instance.image_id = stock.pop()
            pooled.add(state.instance.id)
    return pooled


def warm_pools_like_aws(response_class: Any) -> None:
    """A warm pool that remembers the image its instances were launched with; moto has none."""
    original_put_warm_pool = response_class.put_warm_pool

    def put_warm_pool(self: Any) -> Any:
        result = original_put_warm_pool(self)
        group = self.autoscaling_backend.autoscaling_groups[self._get_param("AutoScalingGroupName")]
        size = int(self._get_param("MinSize") or 1)
        current_state().warm_pools[group.name] = [group.image_id] * size
        return result

    response_class.put_warm_pool = put_warm_pool
