"""The generator service: every endpoint, every rejection, batching, time limit, queue bound, no traces."""
import io
import re
import socket
import threading
import time

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from fastapi.testclient import TestClient
from PIL import Image

from dcgan.data.images import to_uint8
from dcgan.errors import DcganError
from dcgan import generate, pretrained, serve
from dcgan.__main__ import main, parser
from test_pretrained import Z_DIM, tiny_run


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    return pretrained.checkpoint_generator(tiny_run(tmp_path_factory.mktemp('serve') / 'tiny'))


@pytest.fixture(scope='module')
def client(model):
    with TestClient(serve.create_app(model)) as client:
        yield client


def png(response):
    assert response.status_code == 200, response.text
    assert response.headers['content-type'] == 'image/png'
    return np.asarray(Image.open(io.BytesIO(response.content)).convert('RGB')).astype(int)


def npy(response):
    assert response.status_code == 200, response.text
    return np.load(io.BytesIO(response.content), allow_pickle=False)


def test_grid_png_of_a_square_n_is_the_grid_dcgan_generate_writes(client, model, tmp_path):
    served = png(client.get('/api/grid.png?seed=5&n=9'))
    generate.write_samples(model.sample(generate.latent(model, 9, 5)), 'RGB', str(tmp_path / 'cli.png'))
    written = np.asarray(Image.open(tmp_path / 'cli.png').convert('RGB')).astype(int)
    assert served.shape == written.shape == (3 * 28 * 2, 3 * 28 * 2, 3)
    assert np.abs(served - written).max() <= 1


def test_grid_holds_all_n_faces_with_black_padding(client):
    served = png(client.get('/api/grid.png?seed=1&n=10'))
    assert served.shape == (3 * 56, 4 * 56, 3)          # 4 columns, 3 rows: 10 faces and 2 empty tiles
    assert served[2 * 56:, 2 * 56:].max() == 0 and served[2 * 56:, :2 * 56].max() > 0


def test_same_seed_same_faces_other_seed_other_faces(client):
    first = png(client.get('/api/grid.png?seed=7&n=4'))
    assert np.abs(png(client.get('/api/grid.png?seed=7&n=4')) - first).max() <= 1
    assert (np.abs(png(client.get('/api/grid.png?seed=8&n=4')) - first) > 1).mean() > 0.3


def test_samples_npy_are_the_generators_images(client, model):
    served = npy(client.get('/api/samples.npy?seed=3&n=5'))
    assert served.shape == (5, 28, 28, 3) and served.dtype == np.float32 and np.abs(served).max() <= 0.5
    np.testing.assert_allclose(served, model.sample(generate.latent(model, 5, 3)), atol=1e-5)


def test_truncation_pulls_z_towards_its_mean(client, model):
    z = generate.latent(model, 4, 2)
    half = npy(client.get('/api/samples.npy?seed=2&n=4&psi=0.5'))
    np.testing.assert_allclose(half, model.sample(0.5 * z), atol=1e-5)
    mean_faces = npy(client.get('/api/samples.npy?seed=2&n=4&psi=0'))
    np.testing.assert_allclose(mean_faces, np.repeat(mean_faces[:1], 4, axis=0), atol=1e-6)
    np.testing.assert_allclose(npy(client.get('/api/samples.npy?seed=2&n=4&psi=1')), model.sample(z), atol=1e-5)


def test_interpolation_gif_walks_from_seed_a_to_seed_b_and_back(client, model):
    response = client.get('/api/interpolation.gif?a=4&b=9&steps=5')
    assert response.status_code == 200 and response.headers['content-type'] == 'image/gif'
    gif = Image.open(io.BytesIO(response.content))
    assert gif.n_frames == 5 + 3 and gif.size == (28 * serve.GIF_SCALE, 28 * serve.GIF_SCALE)
    assert gif.info['loop'] == 0
    first = to_uint8(model.sample(generate.latent(model, 1, 4))[0]).astype(int)
    shown = np.asarray(gif.convert('RGB'))[::serve.GIF_SCALE, ::serve.GIF_SCALE].astype(int)
    assert np.abs(shown - first).mean() < 8        # GIF keeps 256 colours, so close, not equal


def test_info_describes_the_model_and_the_limits(client, model):
    info = client.get('/api/info').json()
    assert info['steps'] == 6 and info['source'] == 'checkpoint' and info['name'] == 'tiny'
    assert info['config'] == dict(image_size=28, channels=3, z_dim=Z_DIM, z_distribution='normal')
    assert info['limits']['n'] == [1, 256] and info['limits']['seed'] == [0, 2 ** 31 - 1]
    assert info['defaults']['n'] == serve.DEFAULTS['n'] and info['batching'] is True


def test_health_counts_runs_and_faces(client):
    before = client.get('/api/health').json()
    client.get('/api/grid.png?seed=11&n=3')
    after = client.get('/api/health').json()
    assert after['status'] == 'ok' and after['pending_faces'] == 0
    assert after['runs'] == before['runs'] + 1 and after['faces'] == before['faces'] + 3


def test_etag_lets_a_client_reuse_what_it_has(client):
    first = client.get('/api/grid.png?seed=12&n=4')
    again = client.get('/api/grid.png?seed=12&n=4', headers={'If-None-Match': first.headers['etag']})
    assert again.status_code == 304 and not again.content
    other = client.get('/api/grid.png?seed=12&n=5', headers={'If-None-Match': first.headers['etag']})
    assert other.status_code == 200


REJECTIONS = [
    ('/api/grid.png?n=0', 'n must be an integer from 1 to 256'),
    ('/api/grid.png?n=257', 'n must be an integer from 1 to 256'),
    ('/api/grid.png?n=abc', 'n must be an integer from 1 to 256'),
    ('/api/grid.png?n=2.5', 'n must be an integer from 1 to 256'),
    ('/api/grid.png?seed=-1', 'seed must be an integer from 0 to 2147483647'),
    ('/api/grid.png?seed=2147483648', 'seed must be an integer from 0 to 2147483647'),
    ('/api/grid.png?psi=-0.1', 'psi must be a number from 0.0 to 1.0'),
    ('/api/grid.png?psi=1.01', 'psi must be a number from 0.0 to 1.0'),
    ('/api/grid.png?psi=nan', 'psi must be a number from 0.0 to 1.0'),
    ('/api/grid.png?psi=inf', 'psi must be a number from 0.0 to 1.0'),
    ('/api/samples.npy?n=300', 'n must be an integer from 1 to 256'),
    ('/api/samples.npy?seed=x', 'seed must be an integer from 0 to 2147483647'),
    ('/api/samples.npy?psi=2', 'psi must be a number from 0.0 to 1.0'),
    ('/api/interpolation.gif?steps=1', 'steps must be an integer from 2 to 64'),
    ('/api/interpolation.gif?steps=65', 'steps must be an integer from 2 to 64'),
    ('/api/interpolation.gif?a=-5', 'a must be an integer from 0 to 2147483647'),
    ('/api/interpolation.gif?b=99999999999999999999999', 'b must be an integer from 0 to 2147483647'),
    ('/api/interpolation.gif?psi=-1', 'psi must be a number from 0.0 to 1.0'),
]


@pytest.mark.parametrize('url, message', REJECTIONS)
def test_bad_parameters_get_a_422_with_a_one_line_reason(client, url, message):
    response = client.get(url)
    assert response.status_code == 422
    detail = response.json()['detail']
    assert isinstance(detail, str) and detail.startswith(message) and '\n' not in detail
    assert 'Traceback' not in response.text


def test_a_long_bad_value_is_cut_short_in_the_reason(client):
    detail = client.get('/api/grid.png?n=' + 'x' * 5000).json()['detail']
    assert len(detail) < 120 and detail.endswith("...)")


@pytest.mark.parametrize('path', ['/static/serve.py', '/static/..%2Fserve.py', '/static/%2e%2e%2f__init__.py',
                                  '/static/%2Fetc%2Fpasswd', '/api/nothing'])
def test_no_file_outside_the_pages_own_is_reachable(client, path):
    response = client.get(path)
    assert response.status_code == 404 and 'import' not in response.text


def test_the_page_and_its_files_come_from_this_app_only(client):
    page = client.get('/')
    assert page.status_code == 200 and page.headers['content-type'].startswith('text/html')
    assert "default-src 'none'" in page.headers['content-security-policy']
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith('/static/') for s in sources), sources
    for name, kind in (('app.js', 'text/javascript'), ('style.css', 'text/css')):
        response = client.get(f'/static/{name}')
        assert response.status_code == 200 and response.headers['content-type'].startswith(kind)
        assert not re.search(r'https?://', response.text), f'{name} refers to another host'
    for element in ('id="seed"', 'id="random"', 'id="n"', 'id="psi"', 'id="a"', 'id="b"', 'id="grid"',
                    'id="walk"', 'id="download-png"', 'id="download-npy"', 'id="download-gif"', 'id="info"'):
        assert element in page.text


class Gate:
    """A generator wrapper whose first session run waits until released, so that requests queue up."""

    def __init__(self, generator):
        self.generator, self.config = generator, generator.config
        self.entered, self.release, self.calls = threading.Event(), threading.Event(), []
        self.release_after = None

    def sample(self, z):
        self.calls.append(len(z))
        if len(self.calls) == 1:
            self.entered.set()
            assert self.release.wait(30), 'never released'
        return self.generator.sample(z)


def wait_for(condition, seconds=20):
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, 'timed out'
        time.sleep(0.005)


def concurrent_gets(client, urls):
    """GET the urls from one thread each; return the responses in order."""
    responses = [None] * len(urls)

    def get(i):
        responses[i] = client.get(urls[i])
    threads = [threading.Thread(target=get, args=(i,)) for i in range(len(urls))]
    for thread in threads:
        thread.start()
    return threads, responses


@pytest.mark.parametrize('batching', [True, False])
def test_concurrent_requests_share_session_runs_only_with_batching(model, batching):
    gate = Gate(model)
    with TestClient(serve.create_app(gate, batching=batching, warm_up=False)) as client:
        blocker, _ = concurrent_gets(client, ['/api/samples.npy?seed=100&n=2'])
        assert gate.entered.wait(20)
        threads, responses = concurrent_gets(client, [f'/api/samples.npy?seed={s}&n=3' for s in range(8)])
        wait_for(lambda: client.app.state.batcher.pending == 8 * 3)
        gate.release.set()
        for thread in threads + blocker:
            thread.join(30)
        health = client.get('/api/health').json()
    assert all(r.status_code == 200 for r in responses)
    for seed, response in enumerate(responses):
        np.testing.assert_allclose(npy(response), model.sample(generate.latent(model, 3, seed)), atol=1e-5)
    if batching:
        assert gate.calls == [2, 24] and health['runs'] == 2 and health['largest_run'] == 24
        assert {r.headers['x-run-requests'] for r in responses} == {'8'}
    else:
        assert gate.calls == [2] + [3] * 8 and health['runs'] == 9
        assert {r.headers['x-run-requests'] for r in responses} == {'1'}


def test_a_full_queue_turns_requests_away_with_a_503(model):
    gate = Gate(model)
    with TestClient(serve.create_app(gate, warm_up=False, max_pending=16)) as client:
        blocker, _ = concurrent_gets(client, ['/api/grid.png?seed=1&n=4'])
        assert gate.entered.wait(20)
        queued, responses = concurrent_gets(client, ['/api/grid.png?seed=2&n=16'])
        wait_for(lambda: client.app.state.batcher.pending == 16)
        turned_away = client.get('/api/grid.png?seed=3&n=1')
        gate.release.set()
        for thread in blocker + queued:
            thread.join(30)
    assert turned_away.status_code == 503 and turned_away.json()['detail'].startswith('busy: 16 faces are queued')
    assert responses[0].status_code == 200


class Slow:
    """A generator that takes `seconds` per session run."""

    def __init__(self, generator, seconds):
        self.generator, self.config, self.seconds = generator, generator.config, seconds

    def sample(self, z):
        time.sleep(self.seconds)
        return self.generator.sample(z)


def test_a_request_past_the_time_limit_gets_a_503(model):
    with TestClient(serve.create_app(Slow(model, 1.0), timeout=0.2, warm_up=False)) as client:
        start = time.perf_counter()
        response = client.get('/api/grid.png?n=1')
        assert time.perf_counter() - start < 0.9
    assert response.status_code == 503
    assert response.json() == {'detail': 'the request took longer than the limit of 0.2 s'}


class Broken:
    """A generator whose session run fails."""
    config = dict(image_size=28, channels=1, z_dim=Z_DIM, z_distribution='normal')

    def sample(self, z):
        raise tf.errors.InternalError(None, None, 'secret /path/to/model failed')


def test_a_failing_generator_gives_a_500_without_a_stack_trace():
    with TestClient(serve.create_app(Broken(), warm_up=False), raise_server_exceptions=False) as client:
        response = client.get('/api/grid.png?n=2')
        assert client.get('/api/health').json()['status'] == 'ok'    # the worker survives
    assert response.status_code == 500
    assert response.json() == {'detail': 'internal error: the generator failed; see the server log'}
    assert 'secret' not in response.text and 'Traceback' not in response.text


class Timed:
    """A generator that records when each session run starts and ends."""
    config = dict(image_size=28, channels=1, z_dim=Z_DIM, z_distribution='normal')

    def __init__(self):
        self.runs, self.running = [], threading.Event()

    def sample(self, z):
        start = time.perf_counter()
        self.running.set()
        time.sleep(0.02)
        self.runs.append((start, time.perf_counter()))
        return np.zeros((len(z), 28, 28, 1), np.float32)


def test_encoding_takes_turns_with_session_runs_and_a_failed_encoding_fails_only_its_request():
    generator, encodings = Timed(), []

    def encode(images):
        start = time.perf_counter()
        time.sleep(0.02)
        encodings.append((start, time.perf_counter()))
        if len(images) == 3:
            raise ValueError('cannot encode')
        return b'%d' % len(images)
    batcher = serve.Batcher(generator, encoders=2, turn=10)
    try:
        futures = [batcher.submit(np.zeros((1, Z_DIM), np.float32), encode)]
        assert generator.running.wait(10)   # the rest queue up while the first run goes on
        futures += [batcher.submit(np.zeros((n, Z_DIM), np.float32), encode) for n in (2, 3, 4, 5, 6)]
        results = [f.exception(10) or f.result(10).body for f in futures]
    finally:
        batcher.close()
    assert results[:2] == [b'1', b'2'] and isinstance(results[2], ValueError) and results[3:] == [b'4', b'5', b'6']
    assert len(generator.runs) == 2 and len(encodings) == 6
    for run_start, run_end in generator.runs:   # no encoding overlaps a session run
        assert all(end <= run_start or start >= run_end for start, end in encodings)


def test_a_slow_encoding_holds_the_next_session_run_back_only_for_its_turn():
    generator, release = Timed(), threading.Event()

    def encode(images):
        if len(images) == 1:   # a long GIF, say
            release.wait(10)
        return b'done'
    batcher = serve.Batcher(generator, encoders=2, turn=0.05)
    try:
        slow = batcher.submit(np.zeros((1, Z_DIM), np.float32), encode)
        assert generator.running.wait(10)
        start = time.perf_counter()
        quick = batcher.submit(np.zeros((2, Z_DIM), np.float32), encode)
        assert quick.result(10).body == b'done' and not slow.done()
        waited = time.perf_counter() - start
        release.set()
        assert slow.result(10).body == b'done'
    finally:
        batcher.close()
    assert waited < 1.0 and len(generator.runs) == 2


def test_serve_command_line_defaults_to_loopback_and_needs_exactly_one_model():
    args = parser().parse_args(['serve', '--pretrained', 'celeba'])
    assert args.host == '127.0.0.1' and args.port == serve.PORT and not args.no_batching
    assert args.run is serve.serve_command
    for bad in (['serve'], ['serve', '--pretrained', 'celeba', '--checkpoint', 'runs/x']):
        with pytest.raises(SystemExit):
            parser().parse_args(bad)


@pytest.mark.parametrize('options, message', [(['--port', '0'], '--port 0 is not a port number'),
                                              (['--timeout', '0'], '--timeout must be a positive number'),
                                              (['--pretrained', 'no-such-model'], "No pretrained generator 'no-such-model'")])
def test_serve_command_refuses_bad_options_in_one_line(options, message):
    argv = ['serve'] + (options if '--pretrained' in options else ['--pretrained', 'no-such-model'] + options)
    with pytest.raises((SystemExit, DcganError)) as stop:
        parser().parse_args(argv).run(parser().parse_args(argv))
    assert message in str(stop.value) and '\n' not in str(stop.value)



def test_serve_says_it_cannot_listen_instead_of_saying_it_serves(capsys):
    taken = socket.socket()
    taken.bind(('127.0.0.1', 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        for options, message in (
                (['--port', str(port)], f'Cannot listen on 127.0.0.1:{port}: Address already in use; another program'),
                (['--host', '192.0.2.1'], 'Cannot listen on 192.0.2.1:8000: Cannot assign requested address')):
            code = main(['serve', '--pretrained', 'mnist', *options])   # 192.0.2.1: an address of no machine
            out, err = capsys.readouterr()
            assert code == 2 and message in err and 'Traceback' not in err, err
            assert 'Serving' not in out and err.count('\n') == 1
    finally:
        taken.close()

@pytest.mark.parametrize('host, loopback', [('127.0.0.1', True), ('::1', True), ('localhost', True),
                                            ('0.0.0.0', False), ('192.168.1.4', False), ('example.org', False)])
def test_loopback_hosts(host, loopback):
    assert serve.is_loopback(host) is loopback

