"""A polite and safe HTTP client for feeds and article pages, plus conditional-GET state.

``PoliteClient(cfg, allow_hosts).get(url)`` is the only way newsbeam touches the network.
One client (one ``requests.Session``) per worker, created in ``DoFn.setup()``. It:

* refuses URLs that are not http/https, and hosts that resolve to loopback, private,
  link-local, multicast, reserved, unspecified or cloud-metadata addresses (SSRF), unless
  ``host`` or ``host:port`` is in the allow-list. Every redirect hop is followed by the
  client itself and checked the same way *before* connecting. After a connection is made, the
  peer address is checked again before any byte is sent, so a DNS answer that changes between
  the check and the connect (DNS rebinding) is refused too;
* sends a descriptive User-Agent, uses connect/read timeouts and a deadline for the whole
  response, waits ``per_host_delay`` between two requests to one host (longer when robots.txt
  asks for a Crawl-delay);
* retries 429, 5xx and connection errors with exponential backoff and jitter, honouring
  ``Retry-After`` up to ``max_retry_wait`` (a server asking for a longer pause is not retried);
* obeys robots.txt (cached per host; a missing robots.txt allows everything, one that fails
  with 5xx or cannot be reached disallows everything, as RFC 9309 says);
* caps the body at ``max_bytes`` *after* decompression: gzip/deflate are decoded here, in a
  stream, so a small compressed bomb stops at the cap and a truncated gzip stream is an error
  rather than a silently shortened page;
* sends ``If-None-Match``/``If-Modified-Since`` when given validators, and returns 304s.

Failures raise ``FetchError(error_type, message, url)``; the error types are listed in
``FETCH_ERROR_TYPES``. Callers turn them into error rows.

Conditional-GET state (``<output>/_state/feed_validators.json``), one record per feed URL::

    {"etag", "last_modified", "body_sha256", "checked_at", "conditional_streak", "stale_validators"}

Workers never write that file: they stage their updates as shard files under
``_state/pending-<run_id>/``; the launcher calls ``commit_validator_state`` once the run's
output is committed, so a failed run can never leave validators that hide entries it did
not write.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import ipaddress
import json
import os
import random
import shutil
import socket
import time
import urllib.robotparser
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from schemas.feeds_config import FeedConfig

ALLOWED_SCHEMES = ("http", "https")
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# RFC 9309: crawlers must parse at least the first 500 KiB of a robots.txt.
ROBOTS_MAX_BYTES = 512_000
ROBOTS_CACHE_SECONDS = 3600.0
ROBOTS_FAILURE_CACHE_SECONDS = 300.0
STATE_FILE = "feed_validators.json"
PENDING_PREFIX = "pending-"
_CHUNK_BYTES = 64 * 1024

FETCH_ERROR_TYPES = (
    "refused",  # scheme, address or host not allowed (SSRF guard); message names the reason and URL
    "unresolvable",  # the host name does not resolve
    "robots_disallowed",  # robots.txt forbids the URL (or robots.txt is unreachable)
    "http_status",  # a final status other than 2xx/304 (after retries for 429/5xx)
    "rate_limited",  # 429/503 asking for a pause longer than max_retry_wait
    "timeout",
    "connection",
    "too_many_redirects",
    "redirect_loop",
    "bad_redirect",  # a redirect without a usable Location
    "too_large",  # over max_bytes (declared or counted after decompression)
    "truncated",  # the body ended early (short Content-Length read, cut gzip stream)
    "bad_encoding",  # an unknown or corrupt Content-Encoding
)

# Cloud metadata endpoints: AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba, Azure wire server.
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)

Resolver = Callable[[str, int], list[str]]


class FetchError(Exception):
    """A URL that could not be fetched; ``error_type`` is one of ``FETCH_ERROR_TYPES``."""

    def __init__(self, error_type: str, message: str, url: str, status: int | None = None):
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.url = url
        self.status = status  # the final HTTP status, for "http_status"


class _RefusedPeer(Exception):
    """Raised inside a connection whose peer address is not allowed (not an OSError, so
    neither urllib3 nor requests mistakes it for a network error to retry)."""


@dataclass
class FetchResult:
    """A 2xx or 304 response. ``body`` is decoded from gzip/deflate; empty for a 304."""

    url: str
    final_url: str
    status: int
    body: bytes
    headers: dict[str, str]
    fetched_at: dt.datetime
    redirects: list[str] = field(default_factory=list)

    @property
    def not_modified(self) -> bool:
        return self.status == 304


# ---------------------------------------------------------------- SSRF guard (pure)


def normalise_allow_hosts(values: Iterable[str]) -> frozenset[str]:
    """``--allow-host`` values as lower-case ``host`` or ``host:port`` (IPv6 without brackets).

    ``example.org`` allows every port of that host; ``127.0.0.1:8080`` only that port.
    """
    allowed = set()
    for value in values:
        value = value.strip().lower()
        if not value:
            continue
        parts = urlsplit(f"//{value}")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"bad --allow-host {value!r}: {exc}") from exc
        host = parts.hostname or ""
        if not host:
            raise ValueError(f"bad --allow-host {value!r}: no host")
        allowed.add(f"{host}:{port}" if port is not None else host)
    return frozenset(allowed)


def host_is_allowed(host: str, port: int, allow_hosts: frozenset[str]) -> bool:
    host = host.lower().strip("[]")
    return host in allow_hosts or f"{host}:{port}" in allow_hosts


def address_refusal(address: str) -> str | None:
    """Why a connection to this IP address is refused, or None for a public address."""
    ip = ipaddress.ip_address(address.split("%")[0])  # drop an IPv6 zone id
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if ip in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_unspecified", "an unspecified address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private address"),
    )
    for attribute, reason in checks:
        if getattr(ip, attribute):
            return reason
    if not ip.is_global:  # e.g. 100.64.0.0/10, shared carrier-grade NAT space
        return "not a globally routable address"
    return None


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself, without DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def url_refusal(url: str, allow_hosts: frozenset[str], resolve: Resolver = resolve_host) -> tuple[str, str] | None:
    """``(error_type, reason)`` when ``url`` must not be fetched, else None.

    Checks the scheme, then (unless the host is allow-listed) every address the host resolves
    to: one bad address refuses the URL, since the connection could use any of them.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return "refused", f"malformed URL {url!r}: {exc}"
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = f"{scheme}://" if scheme else "no scheme"
        return "refused", f"{url}: scheme {shown} is not allowed (only http and https)"
    host = parts.hostname
    if not host:
        return "refused", f"{url}: no host"
    port = port or (443 if scheme == "https" else 80)
    if host_is_allowed(host, port, allow_hosts):
        return None
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        return "unresolvable", f"{url}: host {host} does not resolve ({exc})"
    for address in addresses:
        reason = address_refusal(address)
        if reason is not None:
            return "refused", f"{url}: host {host} resolves to {address}, {reason} (use --allow-host {host}:{port})"
    if not addresses:
        return "unresolvable", f"{url}: host {host} has no addresses"
    return None


# ---------------------------------------------------------------- retries and validators (pure)


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    now = now or dt.datetime.now(dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def backoff_delay(attempt: int, cfg: FeedConfig, rng: random.Random) -> float:
    """Wait before retry number ``attempt + 1``: ``backoff_base * 2**attempt``, capped, with
    "equal jitter" (half fixed, half random) so that clients hit by one outage spread out."""
    ceiling = min(cfg.max_retry_wait, cfg.backoff_base * (2**attempt))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def conditional_headers(record: dict | None) -> dict[str, str]:
    """If-None-Match / If-Modified-Since from a stored validator record."""
    if not record:
        return {}
    headers = {}
    if record.get("etag"):
        headers["If-None-Match"] = record["etag"]
    if record.get("last_modified"):
        headers["If-Modified-Since"] = record["last_modified"]
    return headers


def validators_for_request(record: dict | None, cfg: FeedConfig) -> dict | None:
    """The record to send conditionally, or None for an unconditional fetch.

    Unconditional when there is nothing to send, when this feed's validators were caught
    lying (a changed body behind an unchanged ETag/Last-Modified), and once every
    ``revalidate_every`` fetches, which is how such lying validators are caught.
    """
    if not record or not (record.get("etag") or record.get("last_modified")):
        return None
    if record.get("stale_validators"):
        return None
    if int(record.get("conditional_streak", 0)) >= cfg.revalidate_every:
        return None
    return record


def next_validator_record(sent: dict | None, previous: dict | None, result: FetchResult) -> dict:
    """The validator record to store after ``result``.

    ``sent`` is what the request carried (None: unconditional), ``previous`` what was stored.
    A 200 to an unconditional request whose ETag or Last-Modified equals the stored one but
    whose body differs marks the feed's validators stale: from then on it is always fetched in
    full, since a 304 from that server cannot be trusted.
    """
    previous = previous or {}
    checked_at = result.fetched_at.isoformat()
    if result.not_modified:
        return {
            **previous,
            "checked_at": checked_at,
            "conditional_streak": int(previous.get("conditional_streak", 0)) + 1,
        }
    etag = result.headers.get("etag")
    last_modified = result.headers.get("last-modified")
    body_sha256 = hashlib.sha256(result.body).hexdigest()
    same_validator = (etag and etag == previous.get("etag")) or (
        last_modified and last_modified == previous.get("last_modified")
    )
    caught_lying = sent is None and bool(same_validator) and previous.get("body_sha256") not in (None, body_sha256)
    return {
        "etag": etag,
        "last_modified": last_modified,
        "body_sha256": body_sha256,
        "checked_at": checked_at,
        "conditional_streak": 0,
        "stale_validators": bool(previous.get("stale_validators")) or caught_lying,
    }


# ---------------------------------------------------------------- validator state files


def load_validator_state(state_dir: str) -> dict[str, dict]:
    """``{feed_url: record}`` from ``<state_dir>/feed_validators.json``; {} when absent or unreadable.

    A damaged state file costs only unconditional fetches, so it is ignored rather than fatal.
    State lives beside the output, through Beam's filesystems (so on gs:// too).
    """
    from transforms.write import join_path, read_bytes

    try:
        state = json.loads(read_bytes(join_path(state_dir, STATE_FILE)))
    except Exception:  # missing, unreadable or damaged: every filesystem raises its own kind
        return {}
    return state if isinstance(state, dict) else {}


def save_validator_state(state_dir: str, state: dict[str, dict]) -> str:
    """Write the state atomically (whole or not at all); returns its path."""
    from transforms.write import join_path, write_bytes_atomically

    path = join_path(state_dir, STATE_FILE)
    write_bytes_atomically(path, json.dumps(state, indent=1, sort_keys=True).encode("utf-8"))
    return path


def merge_validator_state(state: dict[str, dict], updates: Iterable[tuple[str, dict]]) -> dict[str, dict]:
    """``state`` with ``updates`` applied; for one URL the most recently checked record wins."""
    merged = dict(state)
    for url, record in updates:
        current = merged.get(url)
        if current is None or str(record.get("checked_at", "")) >= str(current.get("checked_at", "")):
            merged[url] = record
    return merged


def pending_dir(state_dir: str, run_id: str) -> str:
    from transforms.write import join_path

    return join_path(state_dir, f"{PENDING_PREFIX}{run_id}")


def stage_validator_updates(state_dir: str, run_id: str, updates: list[tuple[str, dict]]) -> str | None:
    """Write one shard of a run's validator updates (a worker's bundle); returns its path."""
    from transforms.write import join_path, write_bytes_atomically

    if not updates:
        return None
    path = join_path(pending_dir(state_dir, run_id), f"{uuid.uuid4().hex}.json")
    write_bytes_atomically(path, json.dumps(updates).encode("utf-8"))
    return path


def commit_validator_state(state_dir: str, run_id: str) -> int:
    """Merge run ``run_id``'s staged updates into the state file; returns the feeds updated.

    Call it from the launcher after the run's tables are committed. Staged updates of other
    runs are deleted: those runs failed, and their validators would hide entries never written.
    """
    from transforms.write import delete_path, is_local, join_path, matching_files, read_bytes

    updates: list[tuple[str, dict]] = []
    for path in matching_files(join_path(pending_dir(state_dir, run_id), "*.json")):
        updates.extend((url, record) for url, record in json.loads(read_bytes(path)))
    if updates:
        save_validator_state(state_dir, merge_validator_state(load_validator_state(state_dir), updates))
    for path in matching_files(join_path(state_dir, f"{PENDING_PREFIX}*", "*")):
        delete_path(path)
    if is_local(state_dir):  # object stores have no folders to leave behind
        for name in os.listdir(state_dir) if os.path.isdir(state_dir) else ():
            if name.startswith(PENDING_PREFIX):
                shutil.rmtree(os.path.join(state_dir, name), ignore_errors=True)
    return len({url for url, _ in updates})


# ---------------------------------------------------------------- the session


def _guarded_adapter(peer_refusal: Callable[[str, int, str], str | None]):
    """A requests adapter whose connections check the connected peer address before use."""
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    def checked(sock, host: str, port: int):
        try:
            peer = sock.getpeername()[0]
        except OSError:
            return sock
        reason = peer_refusal(host, port, peer)
        if reason is not None:
            sock.close()
            raise _RefusedPeer(f"connected to {peer}, {reason}")
        return sock

    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self):
            return checked(super()._new_conn(), self.host, self.port)

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self):
            return checked(super()._new_conn(), self.host, self.port)

    class GuardedHTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    class GuardedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}

    return GuardedAdapter(max_retries=0)  # retries are ours: they must re-check and back off


class _Decoder:
    """Streams a Content-Encoding (identity, gzip, deflate) into at most ``max_bytes``."""

    def __init__(self, encoding: str, max_bytes: int, url: str):
        encoding = (encoding or "identity").strip().lower()
        self._url = url
        self._max = max_bytes
        self._out = bytearray()
        if encoding in ("", "identity"):
            self._wbits = None
        elif encoding in ("gzip", "x-gzip"):
            self._wbits = 16 + zlib.MAX_WBITS
        elif encoding == "deflate":
            self._wbits = zlib.MAX_WBITS
        else:
            raise FetchError("bad_encoding", f"{url}: unsupported Content-Encoding {encoding!r}", url)
        self._inflate = zlib.decompressobj(self._wbits) if self._wbits is not None else None
        self._raw_deflate_tried = False

    def _append(self, data: bytes) -> None:
        self._out += data
        if len(self._out) > self._max:
            raise FetchError(
                "too_large", f"{self._url}: body over max_bytes {self._max} (after decompression)", self._url
            )

    def feed(self, chunk: bytes) -> None:
        if self._inflate is None:
            self._append(chunk)
            return
        pending = chunk
        while pending:
            if self._inflate.eof:  # gzip allows several members back to back
                pending = self._inflate.unused_data + pending
                self._inflate = zlib.decompressobj(self._wbits)
            try:
                # max_length bounds the memory one small compressed chunk can expand into.
                self._append(self._inflate.decompress(pending, self._max + 1 - len(self._out)))
            except zlib.error as exc:
                if self._wbits == zlib.MAX_WBITS and not self._raw_deflate_tried and not self._out:
                    # Some servers send raw deflate without the zlib header.
                    self._raw_deflate_tried = True
                    self._wbits = -zlib.MAX_WBITS
                    self._inflate = zlib.decompressobj(self._wbits)
                    continue
                raise FetchError("bad_encoding", f"{self._url}: corrupt compressed body ({exc})", self._url) from exc
            pending = self._inflate.unconsumed_tail

    def finish(self) -> bytes:
        if self._inflate is not None:
            self._append(self._inflate.flush())
            if not self._inflate.eof:
                raise FetchError("truncated", f"{self._url}: compressed body ends before its end marker", self._url)
        return bytes(self._out)


class PoliteClient:
    """One worker's HTTP client: a ``requests.Session`` plus politeness and safety state.

    Not thread-safe (one per DoFn instance). ``sleep``, ``resolve`` and ``rng`` can be
    replaced, e.g. by a test that wants no real waiting.
    """

    def __init__(
        self,
        cfg: FeedConfig,
        allow_hosts: Iterable[str] = (),
        sleep: Callable[[float], None] = time.sleep,
        resolve: Resolver = resolve_host,
        rng: random.Random | None = None,
    ):
        import requests

        self.cfg = cfg
        self.allow_hosts = normalise_allow_hosts(allow_hosts)
        self._sleep = sleep
        self._resolve = resolve
        self._rng = rng or random.Random()
        self._last_request: dict[str, float] = {}
        self._host_delay: dict[str, float] = {}
        # origin -> (monotonic expiry, rules or the failure to repeat)
        self._robots: dict[str, tuple[float, urllib.robotparser.RobotFileParser | FetchError]] = {}
        self._robots_agent = cfg.user_agent.split("/")[0].split()[0]
        self.session = requests.Session()
        # Proxies and .netrc from the environment would route around the address checks.
        self.session.trust_env = False
        adapter = _guarded_adapter(self._peer_refusal)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(
            {
                "User-Agent": cfg.user_agent,
                # Only what _Decoder can decode and cap; brotli/zstd are never asked for.
                "Accept-Encoding": "gzip, deflate",
            }
        )

    def close(self) -> None:
        self.session.close()

    # ------------------------------------------------------------ public

    def get(
        self,
        url: str,
        validators: dict | None = None,
        max_bytes: int | None = None,
        accept: str | None = None,
        check_robots: bool = True,
    ) -> FetchResult:
        """GET ``url`` following redirects (each hop checked); raises ``FetchError``."""
        max_bytes = max_bytes or self.cfg.max_bytes
        headers = conditional_headers(validators)
        if accept:
            headers["Accept"] = accept
        current, seen, hops = url, [url], []
        while True:
            self._refuse_if_unsafe(current, url, hops)
            if check_robots and self.cfg.respect_robots:
                self._refuse_if_robots_disallow(current)
            response = self._send_with_retries(current, headers)
            if response.status_code in REDIRECT_STATUSES:
                location = response.headers.get("Location")
                response.close()
                if not location:
                    raise FetchError("bad_redirect", f"{current}: HTTP {response.status_code} without Location", url)
                target = urljoin(current, location.strip())
                if target in seen:
                    raise FetchError("redirect_loop", f"{url}: redirect loop back to {target}", url)
                if len(hops) >= self.cfg.max_redirects:
                    raise FetchError("too_many_redirects", f"{url}: more than {self.cfg.max_redirects} redirects", url)
                seen.append(target)
                hops.append(target)
                current = target
                continue
            return self._finish(url, current, hops, response, max_bytes)

    # ------------------------------------------------------------ checks

    def _peer_refusal(self, host: str, port: int, peer: str) -> str | None:
        if host_is_allowed(host, port, self.allow_hosts):
            return None
        return address_refusal(peer)

    def _refuse_if_unsafe(self, current: str, original: str, hops: list[str]) -> None:
        refusal = url_refusal(current, self.allow_hosts, self._resolve)
        if refusal is None:
            return
        error_type, reason = refusal
        if hops:
            reason = f"redirect from {original} refused: {reason}"
        raise FetchError(error_type, reason, original)

    def _robots_for(self, url: str) -> urllib.robotparser.RobotFileParser:
        """The host's robots.txt rules, cached (a long-lived streaming worker re-reads them).

        Raises the FetchError of a robots.txt that could not be fetched at all (no connection,
        refused address), so the row names the real cause, cached briefly so that one dead
        host does not cost a full retry cycle per URL.
        """
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        cached = self._robots.get(origin)
        if cached is not None and cached[0] > time.monotonic():
            if isinstance(cached[1], FetchError):
                raise FetchError(cached[1].error_type, f"{url}: {cached[1].message}", url)
            return cached[1]
        parser = urllib.robotparser.RobotFileParser(f"{origin}/robots.txt")
        try:
            result = self.get(f"{origin}/robots.txt", max_bytes=ROBOTS_MAX_BYTES, check_robots=False)
            parser.parse(result.body.decode("utf-8", errors="replace").splitlines())
        except FetchError as exc:
            status = exc.status
            # RFC 9309 2.3.1: 4xx means no rules; a server error means "assume complete
            # disallow" until robots.txt can be read.
            if status is not None and 400 <= status < 500 and status != 429:
                parser.allow_all = True
            elif exc.error_type == "too_large":
                parser.allow_all = True  # no usable rules, as for a 4xx
            elif status is not None or exc.error_type == "rate_limited":
                parser.disallow_all = True
            else:
                failure = FetchError(exc.error_type, f"robots.txt: {exc.message}", url)
                self._robots[origin] = (time.monotonic() + ROBOTS_FAILURE_CACHE_SECONDS, failure)
                raise failure from exc
        delay = parser.crawl_delay(self._robots_agent)
        if delay:
            self._host_delay[parts.netloc.lower()] = min(float(delay), self.cfg.max_retry_wait)
        self._robots[origin] = (time.monotonic() + ROBOTS_CACHE_SECONDS, parser)
        return parser

    def _refuse_if_robots_disallow(self, url: str) -> None:
        parser = self._robots_for(url)
        if parser.disallow_all:
            raise FetchError("robots_disallowed", f"{url}: robots.txt answers with an error; assuming disallow", url)
        if not parser.can_fetch(self._robots_agent, url):
            raise FetchError("robots_disallowed", f"{url}: disallowed by robots.txt", url)

    # ------------------------------------------------------------ sending

    def _wait_for_host(self, url: str) -> None:
        host = urlsplit(url).netloc.lower()
        delay = max(self.cfg.per_host_delay, self._host_delay.get(host, 0.0))
        last = self._last_request.get(host)
        if last is not None:
            remaining = last + delay - time.monotonic()
            if remaining > 0:
                self._sleep(remaining)
        self._last_request[host] = time.monotonic()

    def _send_with_retries(self, url: str, headers: dict[str, str]):
        import requests

        attempts = self.cfg.max_retries + 1
        for attempt in range(attempts):
            self._wait_for_host(url)
            try:
                response = self.session.get(
                    url,
                    headers=headers,
                    timeout=(self.cfg.connect_timeout, self.cfg.read_timeout),
                    allow_redirects=False,
                    stream=True,
                )
            except _RefusedPeer as exc:
                raise FetchError("refused", f"{url}: {exc}", url) from exc
            except requests.exceptions.ConnectionError as exc:  # includes connect timeouts
                if attempt + 1 == attempts:
                    raise FetchError("connection", f"{url}: {_short(exc)} (after {attempts} attempts)", url) from exc
                self._sleep(backoff_delay(attempt, self.cfg, self._rng))
                continue
            except requests.exceptions.Timeout as exc:
                # A server that accepted the connection but does not answer: retrying costs
                # another full read timeout and rarely helps.
                raise FetchError("timeout", f"{url}: no response within {self.cfg.read_timeout}s", url) from exc
            except requests.exceptions.RequestException as exc:
                raise FetchError("connection", f"{url}: {_short(exc)}", url) from exc
            status = response.status_code
            if status != 429 and not 500 <= status <= 599:
                return response
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            response.close()
            if retry_after is not None and retry_after > self.cfg.max_retry_wait:
                raise FetchError(
                    "rate_limited",
                    f"{url}: HTTP {status} asks to retry after {retry_after:.0f}s, over max_retry_wait "
                    f"{self.cfg.max_retry_wait:.0f}s",
                    url,
                )
            if attempt + 1 == attempts:
                raise FetchError("http_status", f"{url}: HTTP {status} (after {attempts} attempts)", url, status)
            self._sleep(retry_after if retry_after is not None else backoff_delay(attempt, self.cfg, self._rng))
        raise AssertionError("unreachable")  # the loop returns or raises

    def _finish(self, url: str, final_url: str, hops: list[str], response, max_bytes: int) -> FetchResult:
        status = response.status_code
        headers = {k.lower(): v for k, v in response.headers.items()}
        fetched_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        if status == 304:
            response.close()
            return FetchResult(url, final_url, 304, b"", headers, fetched_at, hops)
        if not 200 <= status < 300:
            response.close()
            raise FetchError("http_status", f"{final_url}: HTTP {status}", url, status)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes and not headers.get("content-encoding"):
            response.close()
            raise FetchError("too_large", f"{final_url}: Content-Length {declared} over max_bytes {max_bytes}", url)
        body = self._read_body(url, final_url, response, headers.get("content-encoding", ""), max_bytes)
        return FetchResult(url, final_url, status, body, headers, fetched_at, hops)

    def _read_body(self, url: str, final_url: str, response, content_encoding: str, max_bytes: int) -> bytes:
        from urllib3.exceptions import HTTPError as Urllib3Error
        from urllib3.exceptions import ProtocolError, ReadTimeoutError

        deadline = time.monotonic() + self.cfg.total_timeout
        try:
            decoder = _Decoder(content_encoding, max_bytes, url)
            # decode_content=False: decompression happens in _Decoder, where it is capped.
            for chunk in response.raw.stream(_CHUNK_BYTES, decode_content=False):
                decoder.feed(chunk)
                if time.monotonic() > deadline:
                    raise FetchError("timeout", f"{final_url}: body not complete within {self.cfg.total_timeout}s", url)
            return decoder.finish()
        except ReadTimeoutError as exc:
            raise FetchError("timeout", f"{final_url}: body stalled for over {self.cfg.read_timeout}s", url) from exc
        except ProtocolError as exc:
            raise FetchError("truncated", f"{final_url}: body ended early ({_short(exc)})", url) from exc
        except (Urllib3Error, OSError) as exc:
            raise FetchError("connection", f"{final_url}: {_short(exc)}", url) from exc
        finally:
            response.close()


def _short(exc: BaseException) -> str:
    """The innermost reason of a requests/urllib3 exception chain, on one line."""
    while exc.__context__ is not None and str(exc.__context__):
        exc = exc.__context__
    return f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
