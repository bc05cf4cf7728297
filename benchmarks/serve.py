"""Latency and throughput of the generator service, with request batching on and off.

    .venv/bin/python -m benchmarks.serve [--pretrained celeba] [--requests 200] [--rounds 3] [--json benchmarks/results/serve.json]

Starts `python -m dcgan serve` twice on free 127.0.0.1 ports, with request batching and without
(--no-batching: one session run per request), and from 1, 4 and 16 concurrent clients (closed loop: each
sends its next request when the last one is answered) fires a bounded number of 16-face grid requests,
every one for a new seed, after a warm-up. The levels run in interleaved rounds (each round: every client
count against both services in turn), pooled, so that a slow spell of a shared machine falls on all. Prints p50/p95 latency, faces per second and how many requests
shared a session run on average and how many of the machine's cores were busy, as a Markdown table, and
beside it the faces per second of the generator's session runs alone (no HTTP, no PNG): the ceiling.
The clients run in this process, on the same cores.
"""
import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time

import httpx
import numpy as np

from dcgan.atomic import write_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CLIENTS = (1, 4, 16)
REQUESTS = 200              # per client count, mode and round
ROUNDS = 3                  # interleaved rounds, pooled
WARM_UP = 32                # requests before each measured level (not counted)
FACES = 16                  # faces per grid request
START_TIMEOUT = 90          # seconds for the service to answer /api/health
REQUEST_TIMEOUT = 30        # the client's own limit per request
TARGET_P95_MS = 100         # one client, 16-face grid
TARGET_SPEED_UP = 2.0       # 16 clients' throughput against one client's, with batching
ALONE_SIZES = (16, 256)     # faces per session run when the generator is timed alone, without HTTP
ALONE_SECONDS = 3.0         # how long each of those is timed


def cpu_times():
    """(all, idle) jiffies of the whole machine from /proc/stat, or None where there is none."""
    try:
        with open('/proc/stat') as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    return sum(values), values[3] + values[4]


def busy_cores(before, after):
    """How many cores the machine kept busy between two cpu_times() readings (server, clients and
    anything else running)."""
    if before is None or after is None or after[0] == before[0]:
        return None
    return round(os.cpu_count() * (1 - (after[1] - before[1]) / (after[0] - before[0])), 2)


def free_port():
    """A TCP port nothing listens on at 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def start_service(model_args, batching):
    """`python -m dcgan serve` on a free port; return (process, base URL) once it answers."""
    port = free_port()
    command = [sys.executable, '-m', 'dcgan', 'serve', *model_args, '--port', str(port)]
    if not batching:
        command.append('--no-batching')
    process = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f'http://127.0.0.1:{port}'
    deadline = time.time() + START_TIMEOUT
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit('error: dcgan serve stopped:\n' + process.stdout.read())
        try:
            if httpx.get(base + '/api/health', timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f'error: dcgan serve did not answer within {START_TIMEOUT} s')


def stop_service(process):
    """Stop the service this script started."""
    process.terminate()
    try:
        process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


async def fire(client, clients, seeds):
    """Send one grid request per seed from `clients` concurrent closed-loop clients; return the latencies
    (ms) of the answered requests, the error count and the wall time (s)."""
    queue = list(seeds)[::-1]
    latencies, errors = [], []

    async def one_client():
        while queue:
            seed = queue.pop()
            start = time.perf_counter()
            try:
                response = await client.get(f'/api/grid.png?seed={seed}&n={FACES}')
                ok = response.status_code == 200 and response.content[:4] == b'\x89PNG'
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(1000 * (time.perf_counter() - start))
            else:
                errors.append(seed)
    start = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    return latencies, len(errors), time.perf_counter() - start


async def measure_level(client, clients, requests, first_seed):
    """One measured level: warm-up, then `requests` requests; its raw numbers."""
    await fire(client, clients, range(first_seed, first_seed + WARM_UP))
    before, cpu_before = (await client.get('/api/health')).json(), cpu_times()
    latencies, errors, seconds = await fire(client, clients, range(first_seed + WARM_UP,
                                                                   first_seed + WARM_UP + requests))
    after, cpu_after = (await client.get('/api/health')).json(), cpu_times()
    return dict(latencies=latencies, errors=errors, seconds=seconds, runs=after['runs'] - before['runs'],
                served=after['requests'] - before['requests'], busy_cores=busy_cores(cpu_before, cpu_after))


def pooled(clients, levels):
    """A row of the results table from the levels (rounds) of one client count and service."""
    latencies = [ms for level in levels for ms in level['latencies']]
    seconds, runs = sum(level['seconds'] for level in levels), sum(level['runs'] for level in levels)
    busy = [level['busy_cores'] for level in levels if level['busy_cores'] is not None]
    return dict(clients=clients, requests=len(latencies) + sum(level['errors'] for level in levels),
                errors=sum(level['errors'] for level in levels), seconds=round(seconds, 3),
                p50_ms=round(float(np.percentile(latencies, 50)), 1) if latencies else None,
                p95_ms=round(float(np.percentile(latencies, 95)), 1) if latencies else None,
                faces_per_s=round(len(latencies) * FACES / seconds, 1),
                faces_per_s_by_round=[round(len(level['latencies']) * FACES / level['seconds'], 1) for level in levels],
                requests_per_run=round(sum(level['served'] for level in levels) / runs, 2) if runs else None,
                busy_cores=round(float(np.mean(busy)), 2) if busy else None)


async def measure(bases, client_counts, requests, rounds):
    """Interleaved rounds: in each, every client count against every service ({mode: base URL}) in turn,
    so a slow spell of a shared machine falls on all of them; {mode: rows} pooled over the rounds."""
    limits = httpx.Limits(max_connections=max(client_counts) + 2, max_keepalive_connections=max(client_counts) + 2)
    clients_of = {mode: httpx.AsyncClient(base_url=base, limits=limits, timeout=REQUEST_TIMEOUT)
                  for mode, base in bases.items()}
    levels = {(mode, clients): [] for mode in bases for clients in client_counts}
    seed = 0
    try:
        for round_number in range(1, rounds + 1):
            for clients in client_counts:
                for mode in bases:
                    level = await measure_level(clients_of[mode], clients, requests, seed)
                    seed += WARM_UP + requests
                    levels[mode, clients].append(level)
                    print(f'  round {round_number}, batching {mode}, {clients:2d} clients: '
                          f'{len(level["latencies"]) * FACES / level["seconds"]:7.1f} faces/s, '
                          f'{level["errors"]} errors', flush=True)
    finally:
        for client in clients_of.values():
            await client.aclose()
    return {mode: [pooled(clients, levels[mode, clients]) for clients in client_counts] for mode in bases}


def measure_generator(model_args, seconds=ALONE_SECONDS):
    """Faces per second of the generator's session runs alone (no HTTP, no PNG), in a fresh process: the
    ceiling the service works against."""
    code = ('import json, sys, time\n'
            'from dcgan import generate, pretrained\n'
            'source = dict(zip(("pretrained", "checkpoint"), sys.argv[1:3]))\n'
            'model = pretrained.load_model(source.get("pretrained"), source.get("checkpoint"))\n'
            'out = {}\n'
            f'for size in {ALONE_SIZES!r}:\n'
            '    z = generate.latent(model, size, 0)\n'
            '    model.sample(z)\n'
            '    runs, start = 0, time.perf_counter()\n'
            f'    while time.perf_counter() - start < {seconds}:\n'
            '        model.sample(z)\n'
            '        runs += 1\n'
            '    out[size] = round(runs * size / (time.perf_counter() - start), 1)\n'
            'print("RESULT " + json.dumps(out))\n')
    source = [model_args[1], ''] if model_args[0] == '--pretrained' else ['', model_args[1]]
    done = subprocess.run([sys.executable, '-c', code, *source], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'), timeout=START_TIMEOUT)
    lines = [line for line in done.stdout.splitlines() if line.startswith('RESULT ')]
    if done.returncode or not lines:
        raise SystemExit('error: timing the generator alone failed:\n' + done.stdout + done.stderr)
    return {int(k): v for k, v in json.loads(lines[-1][len('RESULT '):]).items()}


def round_ratios(one, many):
    """Throughput of `many` clients over that of `one`, per round: the spread the pooled ratio hides."""
    return [m / o for o, m in zip(one.get('faces_per_s_by_round', []), many.get('faces_per_s_by_round', [])) if o]


def table(results, alone=None):
    """The Markdown table of all rows, and the lines that compare them with the targets."""
    lines = ['| request batching | clients | requests | errors | p50 ms | p95 ms | faces/s | faces/s by round '
             '| requests per session run | busy cores |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
    for mode in ('on', 'off'):
        for row in results.get(mode, []):
            lines.append(f'| {mode} | {row["clients"]} | {row["requests"]} | {row["errors"]} | {row["p50_ms"]} | '
                         f'{row["p95_ms"]} | {row["faces_per_s"]:,.0f} | '
                         f'{" / ".join(f"{v:,.0f}" for v in row.get("faces_per_s_by_round", []))} | {row["requests_per_run"]} | '
                         f'{row.get("busy_cores")} of {os.cpu_count()} |')
    by = {(mode, row['clients']): row for mode, rows in results.items() for row in rows}
    if ('on', 1) in by:
        p95 = by['on', 1]['p95_ms']
        lines.append(f'\nOne client, {FACES}-face grid: p95 {p95} ms (target <= {TARGET_P95_MS} ms: '
                     f'{"met" if p95 is not None and p95 <= TARGET_P95_MS else "NOT met"}).')
    if ('on', 1) in by and ('on', 16) in by:
        gain = by['on', 16]['faces_per_s'] / by['on', 1]['faces_per_s']
        ok = gain >= TARGET_SPEED_UP and by['on', 16]['errors'] == 0
        lines.append(f'16 clients with batching: {gain:.2f}x the throughput of one client, {by["on", 16]["errors"]} '
                     f'errors (target >= {TARGET_SPEED_UP}x, no errors: {"met" if ok else "NOT met"}).')
        paired = round_ratios(by['on', 1], by['on', 16])
        if len(paired) > 1:
            lines.append(f'The same ratio round by round (one client and 16 measured seconds apart): '
                         f'{" / ".join(f"{r:.2f}x" for r in paired)}; median {np.median(paired):.2f}x, '
                         f'{sum(r >= TARGET_SPEED_UP for r in paired)} of {len(paired)} rounds >= {TARGET_SPEED_UP}x.')
    if alone:
        lines.append('The generator alone (session runs only, no HTTP or PNG): ' + ', '.join(
            f'{faces:,.0f} faces/s at {size} faces per run' for size, faces in sorted(alone.items())) + '.')
    if ('on', 16) in by and ('off', 16) in by:
        lines.append(f'What batching itself gains at 16 clients: {by["on", 16]["faces_per_s"] / by["off", 16]["faces_per_s"]:.2f}x '
                     f'the throughput, p95 {by["on", 16]["p95_ms"]} ms instead of {by["off", 16]["p95_ms"]} ms.')
    return '\n'.join(lines)


def cpu_name():
    """The CPU's model name from /proc/cpuinfo, or the platform's word for it."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def main(argv=None):
    """Measure the service with batching on and off; print the table (and save JSON if asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument('--pretrained', default='celeba')
    source.add_argument('--checkpoint')
    parser.add_argument('--requests', type=int, default=REQUESTS,
                        help='measured requests per client count, mode and round')
    parser.add_argument('--rounds', type=int, default=ROUNDS)
    parser.add_argument('--clients', type=int, nargs='+', default=list(CLIENTS))
    parser.add_argument('--json', help='also save the raw results here (e.g. benchmarks/results/serve.json)')
    args = parser.parse_args(argv)
    if args.requests < 1 or args.rounds < 1 or min(args.clients) < 1:
        parser.error('--requests, --rounds and --clients must be positive')
    model_args = ['--checkpoint', args.checkpoint] if args.checkpoint else ['--pretrained', args.pretrained]
    print('Timing the generator alone ...', flush=True)
    alone = measure_generator(model_args)
    print(f'Starting dcgan serve {" ".join(model_args)}, with and without request batching', flush=True)
    services = {}
    try:
        for mode, batching in (('on', True), ('off', False)):
            services[mode] = start_service(model_args, batching)
        results = asyncio.run(measure({mode: base for mode, (_, base) in services.items()}, args.clients,
                                      args.requests, args.rounds))
    finally:
        for process, _ in services.values():
            stop_service(process)
    print()
    print(table(results, alone))
    if args.json:
        write_json(dict(model=model_args, faces_per_request=FACES, warm_up=WARM_UP, rounds=args.rounds,
                       requests_per_round=args.requests, cores=os.cpu_count(),
                       cpu=cpu_name(), python=platform.python_version(), generator_alone_faces_per_s=alone,
                       results=results), args.json)
        print(f'\nSaved {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
