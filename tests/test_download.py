"""dcgan/download.py against a small local HTTP server that can honour or ignore Range, drop or stall
connections, answer 404 or 416, and serve wrong bytes; plus file:// urls and a refused connection."""
import hashlib
import http.server
import os
import random
import re
import socket
import threading
from dataclasses import dataclass

import pytest

from dcgan.download import DownloadError, download_file, md5sum

PAYLOAD = random.Random(0).randbytes(300_000)
MD5 = hashlib.md5(PAYLOAD).hexdigest()
CUT = 120_000          # ~40 % of the payload: where a broken transfer stops
STEP = 50_000          # body bytes each request gets when a server drops every connection
TIMEOUT = 2            # seconds; nothing in these tests should come near it
STALL_TIMEOUT = 0.3    # client timeout for the stalled-server test
FAILED = re.compile(r'^Download failed from (\S+): .+$', re.MULTILINE)


@dataclass
class Route:
    """How the server answers one path."""
    body: bytes = PAYLOAD
    ranges: bool = True          # honour Range with 206 + Content-Range; False: always 200 and full body
    status: int = 200            # e.g. 404 or 416: always answer this error
    refuse_ranges: bool = False  # answer 416 to every Range request, the full body otherwise
    drop_after: int = None       # send the full Content-Length but only this many body bytes...
    drops: int = 0               # ...on this many first requests
    stall: bool = False          # after drop_after bytes, hang (until the test ends) instead of closing


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        server.requests.append((self.path, self.headers.get('Range')))
        route = server.routes.get(self.path)
        if route is None or route.status != 200:
            return self.send_error(404 if route is None else route.status)
        asked = self.headers.get('Range')
        start = int(re.fullmatch(r'bytes=(\d+)-', asked).group(1)) if asked else 0
        if asked and (route.refuse_ranges or (route.ranges and start >= len(route.body))):
            self.send_response(416)
            self.send_header('Content-Range', f'bytes */{len(route.body)}')
            self.send_header('Content-Length', '0')
            return self.end_headers()
        if asked and route.ranges:
            self.send_response(206)
            self.send_header('Content-Range', f'bytes {start}-{len(route.body) - 1}/{len(route.body)}')
        else:
            start = 0
            self.send_response(200)
        body = route.body[start:]
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if route.drops > 0:
            route.drops -= 1
            self.wfile.write(body[:route.drop_after])
            self.wfile.flush()
            if route.stall:
                server.release.wait(5)
            self.close_connection = True
            return
        self.wfile.write(body)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(('127.0.0.1', 0), Handler)
        self.routes, self.requests, self.release = {}, [], threading.Event()

    def serve(self, path, **route):
        """Answer `path` as configured; return its url."""
        self.routes[path] = Route(**route)
        return f'http://127.0.0.1:{self.server_address[1]}{path}'

    def ranges(self, path):
        """The Range header (or None) of every request made for `path`, in order."""
        return [asked for p, asked in self.requests if p == path]


@pytest.fixture
def server():
    server = Server()
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def dest(tmp_path):
    return str(tmp_path / 'faces.zip')


def closed_port_url():
    """An http url on a port nothing listens on: bound, then closed, so connecting is refused."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    return f'http://127.0.0.1:{port}/faces.zip'


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def failure_lines(capsys):
    """The urls named by the 'Download failed from' lines printed so far, in order."""
    return FAILED.findall(capsys.readouterr().out)


def test_plain_download(server, dest, capsys):
    url = server.serve('/faces.zip')
    assert download_file([url], dest, MD5, timeout=TIMEOUT) == url
    assert read(dest) == PAYLOAD
    assert not os.path.exists(dest + '.part')
    assert server.ranges('/faces.zip') == [None]
    assert failure_lines(capsys) == []


def test_interrupted_transfer_resumes_with_range(server, dest, capsys):
    url = server.serve('/faces.zip', drop_after=CUT, drops=1)
    assert download_file([url], dest, MD5, timeout=TIMEOUT) == url
    assert server.ranges('/faces.zip') == [None, f'bytes={CUT}-']
    assert md5sum(dest) == MD5 and read(dest) == PAYLOAD
    assert not os.path.exists(dest + '.part')
    assert failure_lines(capsys) == [url]


def test_stalled_transfer_times_out_and_resumes(server, dest):
    url = server.serve('/faces.zip', drop_after=CUT, drops=1, stall=True)
    assert download_file([url], dest, MD5, timeout=STALL_TIMEOUT) == url
    assert server.ranges('/faces.zip') == [None, f'bytes={CUT}-']
    assert read(dest) == PAYLOAD


def test_part_left_by_a_killed_run_is_resumed(server, dest):
    with open(dest + '.part', 'wb') as f:
        f.write(PAYLOAD[:CUT])
    url = server.serve('/faces.zip')
    assert download_file([url], dest, MD5, timeout=TIMEOUT) == url
    assert server.ranges('/faces.zip') == [f'bytes={CUT}-']
    assert read(dest) == PAYLOAD
    assert not os.path.exists(dest + '.part')


def test_server_ignoring_range_restarts_cleanly(server, dest, capsys):
    with open(dest + '.part', 'wb') as f:
        f.write(PAYLOAD[:CUT])
    url = server.serve('/faces.zip', ranges=False)
    assert download_file([url], dest, MD5, timeout=TIMEOUT) == url
    assert read(dest) == PAYLOAD            # not PAYLOAD[:CUT] + PAYLOAD
    assert server.ranges('/faces.zip') == [f'bytes={CUT}-']   # one request: no checksum failure and retry
    assert failure_lines(capsys) == []


def test_broken_transfers_move_on_to_a_mirror_that_resumes(server, dest, capsys):
    flaky = server.serve('/official', drop_after=STEP, drops=99)
    mirror = server.serve('/mirror')
    assert download_file([flaky, mirror], dest, MD5, attempts=3, timeout=TIMEOUT) == mirror
    assert server.ranges('/official') == [None, f'bytes={STEP}-', f'bytes={2 * STEP}-']
    assert server.ranges('/mirror') == [f'bytes={3 * STEP}-']
    assert read(dest) == PAYLOAD
    assert failure_lines(capsys) == [flaky] * 3


def test_broken_transfers_everywhere_keep_the_part_for_a_later_run(server, dest):
    url = server.serve('/faces.zip', drop_after=STEP, drops=99)
    with pytest.raises(DownloadError):
        download_file([url], dest, MD5, attempts=2, timeout=TIMEOUT)
    assert not os.path.exists(dest)
    assert read(dest + '.part') == PAYLOAD[:2 * STEP]


def test_wrong_checksum_is_refused_and_the_next_url_used(server, dest, capsys):
    wrong = bytes(b ^ 0xFF for b in PAYLOAD)
    bad = server.serve('/bad', body=wrong)
    good = server.serve('/good')
    assert download_file([bad, good], dest, MD5, timeout=TIMEOUT) == good
    assert server.ranges('/good') == [None]   # the bad bytes were deleted, not resumed
    assert read(dest) == PAYLOAD
    out = capsys.readouterr().out
    assert FAILED.findall(out) == [bad]
    assert 'checksum' in out


def test_wrong_checksum_everywhere_raises_and_leaves_nothing(server, tmp_path, dest):
    urls = [server.serve(f'/bad{i}', body=PAYLOAD[::-1]) for i in range(2)]
    with pytest.raises(DownloadError):
        download_file(urls, dest, MD5, timeout=TIMEOUT)
    assert os.listdir(tmp_path) == []


def test_resumed_part_with_wrong_checksum_is_retried_from_scratch(server, dest):
    with open(dest + '.part', 'wb') as f:
        f.write(bytes(CUT))   # a stale .part of some other file
    url = server.serve('/faces.zip')
    assert download_file([url], dest, MD5, timeout=TIMEOUT) == url
    assert server.ranges('/faces.zip') == [f'bytes={CUT}-', None]
    assert read(dest) == PAYLOAD


def test_404_and_refused_then_a_good_source(server, dest, capsys):
    missing = server.serve('/missing', status=404)
    refused = closed_port_url()
    good = server.serve('/good')
    assert download_file([missing, refused, good], dest, MD5, timeout=TIMEOUT) == good
    assert read(dest) == PAYLOAD
    assert server.ranges('/missing') == [None]   # an answered error is not retried
    assert failure_lines(capsys) == [missing, refused]


def test_all_sources_failing_names_file_md5_and_every_url(server, dest):
    urls = [server.serve('/missing', status=404), closed_port_url(), server.serve('/bad', body=bytes(10))]
    with pytest.raises(DownloadError) as error:
        download_file(urls, dest, MD5, timeout=TIMEOUT)
    message = str(error.value)
    assert 'faces.zip' in message and MD5 in message
    assert all(url in message for url in urls)


def test_416_with_a_complete_part_finishes_without_downloading(server, dest):
    with open(dest + '.part', 'wb') as f:
        f.write(PAYLOAD)
    url = server.serve('/faces.zip', status=416)
    assert download_file([url], dest, MD5, timeout=TIMEOUT) == url
    assert server.ranges('/faces.zip') == [f'bytes={len(PAYLOAD)}-']
    assert read(dest) == PAYLOAD
    assert not os.path.exists(dest + '.part')


def test_416_with_a_wrong_part_starts_again_from_zero(server, dest):
    with open(dest + '.part', 'wb') as f:
        f.write(bytes(len(PAYLOAD) + 5))   # too long and not the file
    url = server.serve('/faces.zip', refuse_ranges=True)
    assert download_file([url], dest, MD5, timeout=TIMEOUT) == url
    assert server.ranges('/faces.zip') == [f'bytes={len(PAYLOAD) + 5}-', None]
    assert read(dest) == PAYLOAD


def test_file_url(tmp_path, dest):
    source = tmp_path / 'mirror' / 'faces.zip'
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    with open(dest + '.part', 'wb') as f:
        f.write(PAYLOAD[:CUT])   # file:// never does Range: the copy must start again from 0
    assert download_file([source.as_uri()], dest, MD5) == source.as_uri()
    assert read(dest) == PAYLOAD
    assert not os.path.exists(dest + '.part')
