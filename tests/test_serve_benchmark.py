"""benchmarks/serve.py's verdicts: the pooled 16-client ratio against its target, and the same ratio round by
round, from made-up results (the benchmark itself is run by hand: it needs idle cores)."""
from benchmarks import serve


def row(clients, by_round, errors=0):
    total = sum(by_round) / len(by_round)
    return dict(clients=clients, requests=100 * len(by_round), errors=errors, seconds=1.0, p50_ms=5.0, p95_ms=9.0,
                faces_per_s=total, faces_per_s_by_round=by_round, requests_per_run=1.0, busy_cores=1.2)


def test_the_verdict_compares_pooled_throughputs_and_shows_every_rounds_ratio():
    results = {'on': [row(1, [1000.0, 1000.0, 1000.0]), row(16, [2500.0, 1500.0, 2200.0])]}
    text = serve.table(results)
    assert '16 clients with batching: 2.07x the throughput of one client, 0 errors' in text and ': met).' in text
    assert '2.50x / 1.50x / 2.20x; median 2.20x, 2 of 3 rounds >= 2.0x.' in text


def test_errors_or_a_ratio_under_the_target_are_not_met():
    below = serve.table({'on': [row(1, [1000.0, 1000.0]), row(16, [1900.0, 2000.0])]})
    assert '1.95x' in below and 'NOT met' in below and '1 of 2 rounds' in below
    failing = serve.table({'on': [row(1, [1000.0]), row(16, [3000.0], errors=2)]})
    assert '3.00x the throughput of one client, 2 errors' in failing and 'NOT met' in failing
    assert 'round by round' not in failing   # one round: nothing to compare
