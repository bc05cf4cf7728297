"""Resumable, checksum-verified download of one file from an official host and its mirrors.

The bytes go into `dest + '.part'`. A transfer that breaks midway keeps the .part and is resumed with an
HTTP Range request, from the same url or from the next one (mirrors serve the same bytes), and so is a
.part left by an earlier run that was killed. The file only takes its real name after its md5 matched.

Each source gets a deadline and must keep a minimum speed: a server that trickles (a byte a second never
times out a read) is abandoned for the next source, which resumes from the bytes already received.
"""
import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace

from dcgan.progress import progress

CHUNK = 1 << 16                  # bytes per read: small enough for a smooth progress bar
PART_SUFFIX = '.part'            # where the bytes go until the file is complete and verified
RANGE_NOT_SATISFIABLE = 416      # the .part already reaches (or passes) the end of the file
CONTENT_RANGE = re.compile(r'bytes\s+(\d+)-(\d+)/(\d+|\*)')


@dataclass(frozen=True)
class Limits:
    """How long one source may take and how slow it may be before the next source is tried."""
    timeout: float = 60            # seconds a connect or a read may wait for the server
    deadline: float = 3 * 3600     # seconds one source may take in all (its resumed attempts included)
    min_speed: float = 10_000      # bytes per second the transfer must average over each window...
    window: float = 60             # ...of this many seconds


DEFAULT_LIMITS = Limits()


class DownloadError(Exception):
    """No source yielded the file: the message names the file, its md5 and why each url failed."""


class BrokenTransfer(Exception):
    """A transfer that stopped midway; the .part keeps what arrived, so the url is worth resuming."""


class TooSlow(Exception):
    """A source past its deadline or below the minimum speed: the next source resumes the .part."""


class Pace:
    """Watch one source's transfer against its Limits: deadline and speed over a sliding window."""

    def __init__(self, limits):
        self.limits, self.start = limits, time.monotonic()
        self.window_start, self.window_bytes = self.start, 0

    def remaining(self):
        """Seconds left before the source's deadline (raise TooSlow when none are)."""
        left = self.limits.deadline - (time.monotonic() - self.start)
        if left <= 0:
            raise TooSlow(f'gave up after {self.limits.deadline:g} s, the deadline per source')
        return left

    def timeout(self):
        """The socket timeout for the next request: never past the deadline."""
        return min(self.limits.timeout, self.remaining())

    def received(self, count):
        """Count `count` more bytes; raise TooSlow when the deadline passed or the window was too slow."""
        self.remaining()
        self.window_bytes += count
        elapsed = time.monotonic() - self.window_start
        if elapsed >= self.limits.window:
            speed = self.window_bytes / elapsed
            if speed < self.limits.min_speed:
                raise TooSlow(f'too slow: {speed:.0f} bytes/s over the last {elapsed:.1f} s, below the minimum '
                              f'of {self.limits.min_speed:g} bytes/s')
            self.window_start, self.window_bytes = time.monotonic(), 0


def file_hash(path, algorithm):
    """The hex digest of a file under a hashlib algorithm ('md5', 'sha256', ...); hashlib reads it in
    chunks, so big archives need little memory."""
    with open(path, 'rb') as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def md5sum(path):
    """The md5 hex digest of a file: what the official data archives are checked against."""
    return file_hash(path, 'md5')


def part_size(part):
    """How many bytes the .part holds (0 if there is none): the offset to resume from."""
    return os.path.getsize(part) if os.path.exists(part) else 0


def remove(path):
    """Delete `path` if it exists, so a bad .part can never be resumed or used."""
    if os.path.exists(path):
        os.remove(path)


def describe(error):
    """A short human reason for an exception, without urllib's '<urlopen error ...>' wrapping."""
    if isinstance(error, urllib.error.HTTPError):
        return f'HTTP {error.code} {error.reason}'
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


def report(url, reason):
    """Print the one line every failure gets, so the user sees which source failed and why."""
    print(f'Download failed from {url}: {reason}')


def open_url(url, offset, timeout):
    """Open `url`, asking only for the bytes from `offset` on when the .part already holds some."""
    headers = {'Range': f'bytes={offset}-'} if offset else {}
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def body_span(response, offset):
    """(first byte, file size or None) of the answer's body: 206 must resume at `offset`, else it is 0."""
    length = response.headers.get('Content-Length')
    length = int(length) if length and length.isdigit() else None
    if response.status != 206:   # 200, or None for file:// urls: the whole file from byte 0
        return 0, length
    match = CONTENT_RANGE.fullmatch(response.headers.get('Content-Range', '').strip())
    if not match or int(match.group(1)) != offset:
        raise ValueError(f'asked for bytes {offset}- but got Content-Range '
                         f'{response.headers.get("Content-Range")!r}')
    size = match.group(3)
    return offset, int(size) if size != '*' else (offset + length if length is not None else None)


def receive(response, part, start, size, name, pace):
    """Write the body into `part` from byte `start` (append, or truncate at 0) under a progress bar, as
    long as the source keeps its pace."""
    with open(part, 'ab' if start else 'wb') as out, \
            progress(total=size, initial=start, unit='B', unit_scale=True, desc=name) as bar:
        read = getattr(response, 'read1', response.read)   # read1: a timeout loses no bytes already read
        while True:
            try:
                chunk = read(CHUNK)
            except (OSError, http.client.HTTPException) as error:
                raise BrokenTransfer(f'transfer broke after {out.tell()} bytes: {describe(error)}') from error
            if not chunk:
                break
            out.write(chunk)
            bar.update(len(chunk))
            pace.received(len(chunk))
        if size is not None and out.tell() < size:   # an early close just ends the body: check
            raise BrokenTransfer(f'connection closed after {out.tell()} of {size} bytes')


def transfer(url, part, md5, pace, name):
    """One request that brings `part` to the end of the file; return True if it resumed earlier bytes."""
    offset = part_size(part)
    try:
        response = open_url(url, offset, pace.timeout())
    except urllib.error.HTTPError as error:
        error.close()
        if error.code != RANGE_NOT_SATISFIABLE or not offset:
            raise
        if md5sum(part) == md5:   # the .part was already the whole file
            return True
        remove(part)              # longer than the file or not this file: start again from byte 0
        return transfer(url, part, md5, pace, name)
    with response:
        start, size = body_span(response, offset)
        receive(response, part, start, size, name, pace)
    return start > 0


def fetch(url, part, md5, attempts, limits, name):
    """Bring `part` to the verified file from `url`, resuming breaks; return None, or why it failed."""
    tries, resumed, fresh_retry_left, pace = 0, False, True, Pace(limits)
    while True:
        tries += 1
        try:
            resumed = transfer(url, part, md5, pace, name) or resumed
        except TooSlow as error:   # the .part keeps what arrived: the next source resumes it
            report(url, f'{error}; trying the next source')
            return str(error)
        except BrokenTransfer as error:
            more = f'; resuming (attempt {tries + 1} of {attempts})' if tries < attempts else ''
            report(url, f'{error}{more}')
            if more:
                continue
            return str(error)
        except (OSError, http.client.HTTPException, ValueError) as error:   # refused, 404, bad answer...
            report(url, describe(error))
            return describe(error)
        actual = md5sum(part)
        if actual == md5:
            return None
        remove(part)
        reason = f'wrong checksum: got md5 {actual}, expected {md5}'
        if resumed and fresh_retry_left:   # the old bytes may be the bad ones: give the url a clean try
            report(url, f'{reason} (file was resumed); retrying from scratch')
            tries, resumed, fresh_retry_left = 0, False, False
            continue
        report(url, reason)
        return reason


def download_file(urls, dest, md5, attempts=3, timeout=None, limits=DEFAULT_LIMITS):
    """Download the file with md5 `md5` to `dest` from the first of `urls` that yields it; return that url.
    Each url gets `attempts` tries (resuming) within `limits` (deadline, minimum speed, socket timeout)."""
    if timeout is not None:
        limits = replace(limits, timeout=timeout)
    urls = [urls] if isinstance(urls, str) else list(urls)
    if attempts < 1:
        raise ValueError(f'attempts={attempts}: need at least one try per url')
    part, name = dest + PART_SUFFIX, os.path.basename(dest)
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    failures = []
    for url in urls:
        reason = fetch(url, part, md5, attempts, limits, name)
        if reason is None:
            os.replace(part, dest)
            return url
        failures.append((url, reason))
    sources = ''.join(f'\n  {url}: {reason}' for url, reason in failures) or ' (no urls given)'
    raise DownloadError(f'Could not download {name} (md5 {md5}) from any source:{sources}')
