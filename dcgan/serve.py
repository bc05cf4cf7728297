"""A generator service and a page: `python -m dcgan serve --pretrained celeba` (or --checkpoint RUN).

One loaded graph and session; one worker thread runs it, and with batching on the requests that queue up
while a session run is going are merged into the next run, so concurrent clients share session runs.

    GET /                                            the page (dcgan/static/)
    GET /api/grid.png?seed=0&n=16&psi=1              n faces of a seed as a PNG grid
    GET /api/samples.npy?seed=0&n=16&psi=1           the same faces, float32 (n, H, W, C) in [-0.5, 0.5]
    GET /api/interpolation.gif?a=0&b=1&steps=16&psi=1  a walk from the first face of seed a to that of seed b
    GET /api/info                                    data set, training steps, metrics, limits
    GET /api/health                                  liveness and the batching counters

psi is the truncation: z is moved towards its mean (0) by that factor, 1 = untouched, 0 = the mean face.
"""
import asyncio
import collections
import concurrent.futures
import contextlib
import errno
import importlib.resources
import io
import ipaddress
import math
import socket
import threading
import time
from dataclasses import dataclass

import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from PIL import Image

from dcgan import cpu
from dcgan.config import BEST_HELP
from dcgan.data.images import PIXEL_RANGE
from dcgan.errors import ConfigError
from dcgan.pictures import images_grid

HOST = '127.0.0.1'                 # loopback only unless --host says otherwise
PORT = 8000
MAX_SEED = 2 ** 31 - 1
LIMITS = dict(seed=(0, MAX_SEED), a=(0, MAX_SEED), b=(0, MAX_SEED), n=(1, 256), steps=(2, 64), psi=(0.0, 1.0))
DEFAULTS = dict(seed=0, n=16, psi=1.0, a=0, b=1, steps=16)
MAX_RUN_FACES = 1024               # latent vectors merged into one session run at most
MAX_PENDING_FACES = 8192           # queued latent vectors beyond which requests are turned away (503)
ENCODE_TURN = 0.05                 # seconds the next session run waits at most for the last one's encodings
REQUEST_TIMEOUT = 10.0             # seconds a request may take before it gets a 503
WARM_UP_SIZES = (1, 16, 64, 256)   # batch sizes run once at start, so first requests are not slow
GRID_SCALE = 2                     # grids enlarged like `dcgan generate`'s
GIF_SCALE = 4                      # interpolation frames enlarged to 112 px
GIF_FRAME_MS = 70
PNG_COMPRESSION = 1                # zlib level: fast to encode, the grids are small anyway
PNG_STRATEGY = 3                   # zlib's run-length strategy: 20 % faster and 10 % smaller on enlarged grids
PAD_VALUE = PIXEL_RANGE[0]  # empty tiles of a grid whose n is not a square: black
MAX_CONNECTIONS = 200              # uvicorn answers 503 beyond this many open connections
STATIC_FILES = {'index.html': 'text/html; charset=utf-8', 'app.js': 'text/javascript; charset=utf-8',
                'style.css': 'text/css; charset=utf-8', 'icon.svg': 'image/svg+xml'}
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class Busy(Exception):
    """The queue is full: the request is turned away instead of waiting without bound."""


@dataclass
class Job:
    """Latent vectors waiting for a session run, how their images become a response body, and where it goes."""
    z: np.ndarray
    encode: object
    future: concurrent.futures.Future


@dataclass
class Generated:
    """A request's encoded response body and how many requests shared its session run."""
    body: bytes
    shared_with: int


class Batcher:
    """Runs the generator in one worker thread; with batching on, the jobs that queue up while a session
    run is going are merged into the next one (up to max_faces latent vectors). After each run the worker
    hands its jobs' images to the encoder threads and starts the next run once they are encoded (or after
    `turn` seconds, so that one long GIF does not hold everyone up): the session and the encoders take turns
    with the cores instead of fighting over them (a session run whose threads share the cores with encoders
    waits for its slowest thread at every op)."""

    def __init__(self, generator, batching=True, max_faces=MAX_RUN_FACES, max_pending=MAX_PENDING_FACES,
                 encoders=None, turn=ENCODE_TURN):
        self.generator, self.batching, self.max_faces, self.max_pending = generator, batching, max_faces, max_pending
        self.encoders = concurrent.futures.ThreadPoolExecutor(encoders or 2 * cpu.cores(), thread_name_prefix='encode')
        self.turn = turn
        self.jobs, self.pending, self.closed = collections.deque(), 0, False
        self.condition = threading.Condition()
        self.stats = dict(runs=0, requests=0, faces=0, largest_run=0)
        self.thread = threading.Thread(target=self.work, name='generator', daemon=True)
        self.thread.start()

    def submit(self, z, encode):
        """Queue latent vectors and the function that turns their images into bytes; return a concurrent
        Future of the Generated body."""
        future = concurrent.futures.Future()
        with self.condition:
            if self.closed:
                raise RuntimeError('the generator is shut down')
            if self.pending + len(z) > self.max_pending:
                raise Busy(f'busy: {self.pending} faces are queued; try again shortly')
            self.jobs.append(Job(z, encode, future))
            self.pending += len(z)
            self.condition.notify()
        return future

    def take(self):
        """The jobs of the next session run (waiting for one), or None once closed."""
        with self.condition:
            while not self.jobs and not self.closed:
                self.condition.wait()
            if self.closed:
                return None
            taken = [self.jobs.popleft()]
            faces = len(taken[0].z)
            while self.batching and self.jobs and faces + len(self.jobs[0].z) <= self.max_faces:
                taken.append(self.jobs.popleft())
                faces += len(taken[-1].z)
            self.pending -= faces
        return taken

    def work(self):
        """The worker: one session run per batch of jobs, then their images encoded side by side."""
        while (taken := self.take()) is not None:
            live = [job for job in taken if job.future.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                images = self.generator.sample(np.concatenate([job.z for job in live]))
            except Exception as error:   # noqa: BLE001 - handed to the requests, which answer 500
                for job in live:
                    job.future.set_exception(error)
                continue
            self.stats['runs'] += 1
            self.stats['requests'] += len(live)
            self.stats['faces'] += len(images)
            self.stats['largest_run'] = max(self.stats['largest_run'], len(images))
            ends = np.cumsum([len(job.z) for job in live])
            encodings = [self.encoders.submit(self.encode, job, images[end - len(job.z):end], len(live))
                         for job, end in zip(live, ends)]
            concurrent.futures.wait(encodings, timeout=self.turn)

    @staticmethod
    def encode(job, images, shared_with):
        """One job's images encoded into its response body (on an encoder thread)."""
        try:
            job.future.set_result(Generated(job.encode(images), shared_with))
        except Exception as error:   # noqa: BLE001 - handed to the request, which answers 500
            job.future.set_exception(error)

    def close(self):
        """Stop the worker after its current run; cancel what is still queued."""
        with self.condition:
            self.closed = True
            for job in self.jobs:
                job.future.cancel()
            self.jobs.clear()
            self.condition.notify_all()
        self.thread.join(timeout=REQUEST_TIMEOUT)
        self.encoders.shutdown(wait=False, cancel_futures=True)


def truncate(z, psi):
    """Latent vectors moved towards their mean (0 for both latent distributions) by the factor psi."""
    return (np.float32(psi) * z).astype(np.float32)


def grid_image(images, mode, scale=GRID_SCALE):
    """A PIL grid of all `images`, ceil(sqrt(n)) columns, empty tiles black, enlarged `scale` times; for a
    square n it is exactly the grid `dcgan generate --out grid.png` writes."""
    columns = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    padding = np.full((rows * columns - len(images),) + images.shape[1:], PAD_VALUE, np.float32)
    grid = images_grid(np.concatenate([images, padding]), columns, mode)
    return grid.resize((grid.width * scale, grid.height * scale), Image.Resampling.NEAREST)


def png_bytes(image):
    """A PIL image as PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, 'PNG', compress_level=PNG_COMPRESSION, compress_type=PNG_STRATEGY)
    return buffer.getvalue()


def npy_bytes(images):
    """Images as the bytes of a float32 .npy file."""
    buffer = io.BytesIO()
    np.save(buffer, images.astype(np.float32), allow_pickle=False)
    return buffer.getvalue()


def gif_bytes(images, mode):
    """An animated GIF that walks through `images` and back, looping."""
    frames = [grid_image(image[None], mode, GIF_SCALE) for image in images]
    frames = frames + frames[-2:0:-1]
    buffer = io.BytesIO()
    frames[0].save(buffer, 'GIF', save_all=True, append_images=frames[1:], duration=GIF_FRAME_MS, loop=0)
    return buffer.getvalue()


def reason(error):
    """The one-line reason of a rejected parameter."""
    name = error['loc'][-1] if error.get('loc') else 'request'
    if name not in LIMITS:
        return f'{name}: {error.get("msg", "invalid")}'
    low, high = LIMITS[name]
    kind = 'a number' if isinstance(low, float) else 'an integer'
    got = repr(error.get('input'))
    got = got if len(got) <= 40 else got[:37] + '...'
    return f'{name} must be {kind} from {low} to {high} (got {got})'


def parameter(name):
    """A query parameter within LIMITS[name], by default DEFAULTS[name] (its type comes from the annotation)."""
    low, high = LIMITS[name]
    return Query(DEFAULTS[name], ge=low, le=high)


def describe(generator, batching):
    """What /api/info answers: the model's description, the limits and the defaults."""
    info = getattr(generator, 'info', None) or {}
    config = generator.config
    return dict(name=info.get('name'), dataset=info.get('dataset'), source=info.get('source'), id=info.get('id'),
                steps=info.get('training', {}).get('steps'), metrics=info.get('metrics', {}),
                terms=info.get('terms'), batching=batching,
                config={k: config.get(k) for k in ('image_size', 'channels', 'z_dim', 'z_distribution')},
                limits=LIMITS, defaults=DEFAULTS)


def static_files():
    """{name: bytes} of the page's files, read once from the package."""
    folder = importlib.resources.files('dcgan') / 'static'
    return {name: (folder / name).read_bytes() for name in STATIC_FILES}


def create_app(generator, batching=True, timeout=REQUEST_TIMEOUT, max_pending=MAX_PENDING_FACES, warm_up=True):
    """The FastAPI app serving `generator` (anything with .sample(z) and .config, e.g. from
    dcgan.pretrained.load_model); batching=False gives every request its own session run."""
    from dcgan import generate   # here, not at the top, so that the command line's parser stays fast
    mode = generate.image_mode(generator)
    info = describe(generator, batching)
    model_id = info['id'] or 'model'
    files = static_files()
    if warm_up:
        for size in WARM_UP_SIZES:
            generator.sample(generate.latent(generator, size, 0))
    batcher = Batcher(generator, batching, max_pending=max_pending)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        """Stop the worker thread when the server stops."""
        yield
        batcher.close()

    app = FastAPI(title='DCGAN generator', docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.batcher, app.state.started = batcher, time.time()

    @app.exception_handler(RequestValidationError)
    async def invalid_parameter(request, error):
        """422 with the first bad parameter's one-line reason."""
        return JSONResponse({'detail': reason(error.errors()[0])}, status_code=422)

    @app.exception_handler(Exception)
    async def failure(request, error):
        """500 with no stack trace in the response (the server logs it)."""
        return JSONResponse({'detail': 'internal error: the generator failed; see the server log'}, status_code=500)

    async def within_limit(awaitable, deadline, future=None):
        """Await `awaitable` until the request's deadline; past it, cancel `future` and answer 503."""
        try:
            return await asyncio.wait_for(awaitable, max(deadline - time.perf_counter(), 0))
        except TimeoutError:
            if future is not None:
                future.cancel()
            raise HTTPException(503, f'the request took longer than the limit of {timeout:g} s') from None

    async def respond(request, kind, params, z, encode, media_type):
        """An image response: 304 when the client already has it (the ETag names model and parameters),
        otherwise generated and encoded by the batcher (off the event loop), with the batch size in a header."""
        etag = '"{}-{}-{}"'.format(model_id, kind, '-'.join(f'{k}{v}' for k, v in params.items()))
        headers = {'ETag': etag, 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff'}
        if request.headers.get('if-none-match') == etag:
            return Response(status_code=304, headers=headers)
        start = time.perf_counter()
        deadline = start + timeout
        try:
            future = batcher.submit(z, encode)
        except Busy as error:
            raise HTTPException(503, str(error)) from None
        result = await within_limit(asyncio.wrap_future(future), deadline, future)
        body = result.body
        headers.update({'X-Run-Requests': str(result.shared_with),
                        'Server-Timing': f'total;dur={1000 * (time.perf_counter() - start):.1f}'})
        return Response(body, media_type=media_type, headers=headers)

    @app.get('/api/grid.png')
    async def grid(request: Request, seed: int = parameter('seed'), n: int = parameter('n'),
                   psi: float = parameter('psi')):
        """n faces of a seed as a PNG grid."""
        z = truncate(generate.latent(generator, n, seed), psi)
        return await respond(request, 'grid', dict(seed=seed, n=n, psi=psi), z,
                             lambda images: png_bytes(grid_image(images, mode)), 'image/png')

    @app.get('/api/samples.npy')
    async def samples(request: Request, seed: int = parameter('seed'), n: int = parameter('n'),
                      psi: float = parameter('psi')):
        """The grid's faces as a float32 .npy array (n, H, W, C) in [-0.5, 0.5]."""
        z = truncate(generate.latent(generator, n, seed), psi)
        return await respond(request, 'npy', dict(seed=seed, n=n, psi=psi), z, npy_bytes, 'application/octet-stream')

    @app.get('/api/interpolation.gif')
    async def interpolation(request: Request, a: int = parameter('a'), b: int = parameter('b'),
                            steps: int = parameter('steps'),
                            psi: float = parameter('psi')):
        """An animated walk from the first face of seed a to the first face of seed b."""
        start, end = generate.latent(generator, 1, a)[0], generate.latent(generator, 1, b)[0]
        walk = generate.slerp if generator.config.get('z_distribution', 'normal') == 'normal' else (
            lambda p, q, t: (1 - t) * p + t * q)
        z = truncate(np.array([walk(start, end, t) for t in np.linspace(0, 1, steps)], np.float32), psi)
        return await respond(request, 'gif', dict(a=a, b=b, steps=steps, psi=psi), z,
                             lambda images: gif_bytes(images, mode), 'image/gif')

    @app.get('/api/info')
    async def model_info():
        """The model: data set, training steps, metrics, configuration; the parameters' limits."""
        return info

    @app.get('/api/health')
    async def health():
        """Liveness, the queue and the batching counters."""
        return dict(status='ok', model=info['name'], batching=batching, pending_faces=batcher.pending,
                    uptime_s=round(time.time() - app.state.started, 1), **batcher.stats)

    def static_response(name):
        """One of the page's own files, from memory."""
        headers = {'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff'}
        if name == 'index.html':
            headers['Content-Security-Policy'] = PAGE_POLICY
        return Response(files[name], media_type=STATIC_FILES[name], headers=headers)

    @app.get('/')
    async def page():
        """The page."""
        return static_response('index.html')

    @app.get('/static/{name}')
    async def static(name: str):
        """One of the page's files: a fixed list, so nothing else on disk is reachable."""
        if name not in STATIC_FILES:
            raise HTTPException(404, 'no such file')
        return static_response(name)

    return app


def is_loopback(host):
    """True for 127.0.0.1, ::1 and localhost."""
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add_serve_arguments(parser):
    """The `serve` subcommand's options."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--pretrained', help='a shipped generator (see pretrained/) or a pretrained folder')
    source.add_argument('--checkpoint', help='a run folder (its newest checkpoint) or a checkpoint')
    parser.add_argument('--best', action='store_true', help=BEST_HELP)
    parser.add_argument('--host', default=HOST, help=f'address to listen on (default {HOST}: this machine only)')
    parser.add_argument('--port', type=int, default=PORT)
    parser.add_argument('--no-batching', action='store_true', help='one session run per request (for comparison)')
    parser.add_argument('--timeout', type=float, default=REQUEST_TIMEOUT, help='seconds a request may take')
    parser.add_argument('--log-level', default='warning', choices=('debug', 'info', 'warning', 'error'))
    parser.set_defaults(run=serve_command)


def serve_command(args):
    """Serve the generator's faces: an HTTP API and a page, on 127.0.0.1 unless --host says otherwise."""
    import uvicorn

    from dcgan import generate, pretrained
    if not 0 < args.port < 65536:
        raise ConfigError(f'--port {args.port} is not a port number (1-65535).')
    if not args.timeout > 0:
        raise ConfigError(f'--timeout must be a positive number of seconds (got {args.timeout}).')
    generator = pretrained.load_model(args.pretrained, generate.chosen_checkpoint(args.checkpoint, args.best))
    app = create_app(generator, batching=not args.no_batching, timeout=args.timeout)
    with listening_socket(args.host, args.port) as listening:
        if not is_loopback(args.host):
            print(f'warning: listening on {args.host}: other machines can reach this service.')
        shown = f'[{args.host}]' if ':' in args.host else args.host
        print(f'Serving {generator.info["name"]} on http://{shown}:{args.port}/ (request batching '
              f'{"off" if args.no_batching else "on"}; Ctrl+C stops)', flush=True)
        config = uvicorn.Config(app, log_level=args.log_level, access_log=False, limit_concurrency=MAX_CONNECTIONS)
        uvicorn.Server(config).run(sockets=[listening])


def listening_socket(host, port):
    """A TCP socket bound to host:port, so the address is known to work before the service says it
    serves there; ConfigError, saying what to do, when the host is no address of this machine or the port
    is taken."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                                flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as error:
        raise ConfigError(f'--host {host} is no address this machine can listen on ({error.strerror}): use '
                          f'{HOST} (this machine only), 0.0.0.0 (every network interface) or one of its '
                          f'addresses.') from None
    listening = socket.socket(family, kind, protocol)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind(address)
    except OSError as error:
        listening.close()
        fix = ('another program (or another `dcgan serve`) listens there: choose another --port, or stop it'
               if error.errno == errno.EADDRINUSE else 'choose another --host or --port')
        raise ConfigError(f'Cannot listen on {host}:{port}: {error.strerror}; {fix}.') from None
    return listening
