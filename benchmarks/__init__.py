"""Measurements that print numbers: `python -m benchmarks.NAME` (see docs/performance.md)."""
import dcgan  # noqa: F401  (first, so that TensorFlow loads without its C++ start-up chatter: dcgan/quiet.py)
