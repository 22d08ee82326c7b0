"""HTTP health probes of the regional endpoints (stdlib only: the Lambda zip carries no dependencies)."""

from __future__ import annotations

import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping


def probe(url: str, timeout: float) -> bool:
    """Healthy means HTTP 200 within `timeout` seconds; anything else, including a time-out, is not."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def probe_all(urls: Mapping[str, str], timeout: float) -> dict[str, bool]:
    """Probe every region in parallel, so one dead region costs one time-out, not one per region."""
    with ThreadPoolExecutor(max_workers=max(1, len(urls))) as pool:
        results = {region: pool.submit(probe, url, timeout) for region, url in urls.items()}
        return {region: f.result() for region, f in results.items()}
