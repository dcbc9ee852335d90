"""Shared helpers for the trust tests: real data from the session's trust devnet."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bizra_node.validation.trust import Check, TrustError

KINDS = ["legacy", "legacy_pre155", "access_list", "dynamic_fee", "logs", "create", "reverted",
         "blob", "set_code"]


def fails(check: Check, call: Any, *args: Any, **kwargs: Any) -> TrustError:
    """Run ``call`` and assert it fails ``check`` (and nothing else)."""
    with pytest.raises(TrustError) as err:
        call(*args, **kwargs)
    assert err.value.check is check, f"{err.value.check} ({err.value.message}), expected {check}"
    return err.value


def clone(obj: Any) -> Any:
    return copy.deepcopy(obj)
