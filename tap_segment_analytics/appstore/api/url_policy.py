"""Where the App Store requests of the tap may go.

The token goes to `appstore_api_url`'s host only (`origin`, which `links.next` must match).
Report files come over https from a public host, as Apple's presigned URLs do, so that an API
answer cannot point the tap at a local file, an admin port on the machine or a private
network; only when `appstore_api_url` is itself local (the sandbox) may files come over http
and from local hosts.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from urllib.parse import urlsplit

DOWNLOAD_SCHEME = "https"
_SANDBOX_SCHEMES = ("https", "http")
_DEFAULT_PORTS = {"https": 443, "http": 80}
_LOCAL_NAMES = ("localhost", "localhost.localdomain")


class RefusedURL(ValueError):
    """A download URL the tap will not fetch; the message names its origin, never its query."""


def origin(url: str) -> str:
    """`scheme://host:port` of a URL, without credentials, path or query."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


def check_download_url(url: object, api_url: str) -> None:
    """Raise RefusedURL unless `url` may be downloaded for an API at `api_url`."""
    if not isinstance(url, str):
        raise RefusedURL(f"a {type(url).__name__}, not a URL")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    sandbox = is_local(urlsplit(api_url).hostname or "")
    if scheme not in (_SANDBOX_SCHEMES if sandbox else (DOWNLOAD_SCHEME,)):
        raise RefusedURL(f"a {scheme}:// URL, not https" if scheme else "no scheme, not https")
    try:
        host, _port = parts.hostname, parts.port  # a port that is not a number: ValueError
    except ValueError:
        raise RefusedURL(f"a {scheme}:// URL with a malformed host or port") from None
    if not host:
        raise RefusedURL(f"a {scheme}:// URL without a host")
    if not sandbox and is_local(host):
        raise RefusedURL(f"{origin(url)} is a loopback, private or link-local address")


@functools.lru_cache(maxsize=256)
def is_local(host: str) -> bool:
    """Whether `host` is, or resolves to, a loopback, private, link-local or reserved address.

    A name that does not resolve is not local: its download fails with a network error. Each
    name is looked up once a run.
    """
    host = host.lower().rstrip(".")
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return True
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except (OSError, UnicodeError):
            return False
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    return any(not address.is_global for address in addresses)
