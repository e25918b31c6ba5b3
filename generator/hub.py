"""Whether the Hub can be reached, found out in seconds. huggingface_hub retries a failing request for up
to a minute and more (its retry count is not configurable), which offline reads as a hang; one probe
first with a short timeout turns that into one clear line."""

from __future__ import annotations

import os

PROBE_TIMEOUT_S = 5.0


def offline_mode() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set: nothing is to be downloaded."""
    from huggingface_hub import constants

    values = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return constants.HF_HUB_OFFLINE or any(v.upper() in ("1", "ON", "YES", "TRUE") for v in values)


def unreachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why `url` cannot be reached (DNS, refused, no answer within `timeout`), or None when it answers,
    with any HTTP status. Sent through huggingface_hub's own HTTP session, so its proxy settings apply."""
    from huggingface_hub.utils import get_session

    try:
        get_session().get(url, timeout=timeout)
    except Exception as error:  # noqa: BLE001 - DNS, refused, timeout, TLS: all mean "not reachable"
        lines = str(error).strip().splitlines()
        return lines[0][:200] if lines else type(error).__name__
    return None


def model_unreachable(model: str) -> str | None:
    """Why the Hub cannot be reached to download `model` (None when it answers, even with an error status, or
    when there is nothing to download: a local folder, or HF_HUB_OFFLINE)."""
    from pathlib import Path

    from huggingface_hub import constants

    if offline_mode() or Path(model).exists():
        return None
    return unreachable(f"{constants.ENDPOINT}/api/models/{model}")


OFFLINE_WAYS = ("with the model already downloaded set HF_HUB_OFFLINE=1",)


def cached_only(model: str, what: str = "depth model", ways: tuple[str, ...] = OFFLINE_WAYS) -> dict[str, bool]:
    """from_pretrained's switch for a Hub that cannot be reached: the cached copy, or one clear line naming
    `what` the model is for and the `ways` out that hold wherever it is loaded (the command adds its own)."""
    from huggingface_hub import constants, try_to_load_from_cache

    from .errors import ModelUnavailable

    from pathlib import Path

    if offline_mode() and not Path(model).exists() and _valid_repo_id(model) and not isinstance(try_to_load_from_cache(model, "config.json"), str):
        raise ModelUnavailable(f"cannot load {what} '{model}': HF_HUB_OFFLINE is set and it is not in the cache")
    reason = model_unreachable(model)
    if reason is None:
        return {}
    if not isinstance(try_to_load_from_cache(model, "config.json"), str):  # not downloaded before
        raise ModelUnavailable(
            f"cannot download {what} '{model}': the network cannot reach {constants.ENDPOINT} ({reason})",
            ways, exit_code=1,
        )
    return {"local_files_only": True}


def _valid_repo_id(model: str) -> bool:
    """A name the Hub could hold (a missing folder given by path is not: its loader says so)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(model)
    except HFValidationError:
        return False
    return True


DEFAULT_IDLE_TIMEOUT_S = 60.0


def use_idle_timeout(seconds: float) -> None:
    """Make every request huggingface_hub sends from here on give up once no byte has moved for `seconds`
    (connecting, sending, or waiting for the answer): httpx's timeouts bound each socket operation, not the
    whole request, so a slow upload or download that keeps moving is never cut. The library's own client
    has no timeout at all: a server that accepts the connection and never answers would hang the command."""
    import httpx2
    from huggingface_hub import set_client_factory

    set_client_factory(lambda: httpx2.Client(follow_redirects=True, timeout=httpx2.Timeout(seconds)))
