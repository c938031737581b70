"""Whether the Hugging Face hub can be asked, decided once and quickly: a model or a
dataset the hub would give is refused at once, in one paragraph, when the hub is off
(`HF_HUB_OFFLINE`) or unreachable, instead of after a long series of retries.
"""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def offline_by_setting() -> str | None:
    """The environment variable that turns the hub off, or None."""
    for name in OFFLINE_VARIABLES:
        if os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on"):
            return name
    return None


@functools.lru_cache(maxsize=1)
def _reachable(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def why_unreachable(timeout: float = 3.0) -> str | None:
    """None when the hub can be asked; else why not, as a clause for a message
    (`HF_HUB_OFFLINE=1 is set`, `huggingface.co:443 does not answer`). The network is
    probed once per process, for at most `timeout` seconds."""
    setting = offline_by_setting()
    if setting:
        return f"{setting}={os.environ[setting]} is set"
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    if _reachable(host, port, timeout):
        return None
    return f"{host}:{port} does not answer"


def cached_model(name: str) -> bool:
    """Whether a hub model's config is in the local Hugging Face cache already."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        found = try_to_load_from_cache(name, "config.json")
    except Exception:  # a name the hub would refuse: not cached either
        return False
    return isinstance(found, str)
