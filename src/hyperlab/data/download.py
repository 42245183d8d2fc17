"""A file fetched from a list of mirrors, verified against its published MD5, kept in a cache folder."""

from __future__ import annotations

import hashlib
import logging
import urllib.error
import urllib.request
from pathlib import Path

from hyperlab.errors import InputError
from hyperlab.io import write_bytes

log = logging.getLogger(__name__)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def fetch_verified(name: str, digest: str, mirrors: tuple[str, ...], cache_dir: str | Path, timeout_s: float) -> bytes:
    """Bytes of ``name`` whose MD5 is ``digest``: from the cache, else the first mirror that serves it.

    A mirror that fails (network error, HTTP error, wrong checksum) is logged and
    the next one tried; a file with a wrong checksum is never written to the
    cache nor returned.
    """
    cached = Path(cache_dir) / name
    if cached.is_file():
        data = cached.read_bytes()
        if md5(data) == digest:
            log.info("%s: from cache %s", name, cached)
            return data
        log.warning("%s: cached copy has a wrong MD5; downloading again", name)
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                data = response.read()
        except (urllib.error.URLError, OSError, ValueError) as err:
            failures.append(f"{url}: {getattr(err, 'reason', err)}")
            log.warning("%s: mirror failed: %s", name, failures[-1])
            continue
        got = md5(data)
        if got != digest:
            failures.append(f"{url}: MD5 {got} != published {digest}")
            log.warning("%s: wrong checksum from %s (MD5 %s, published %s); not used", name, url, got, digest)
            continue
        write_bytes(cached, data, staged=False)  # a download cache, kept even if the stage fails later
        log.info("%s: downloaded from %s (%d bytes, MD5 ok)", name, url, len(data))
        return data
    raise InputError(f"{name}: no mirror served a file with the published MD5 {digest}: " + "; ".join(failures))
