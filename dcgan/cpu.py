"""What this machine's CPU offers: usable cores, /proc/cpuinfo fields, bfloat16 support."""
import os

BFLOAT16_FLAGS = ('avx512_bf16', 'amx_bf16')   # CPU flags of native bfloat16 dot products (oneDNN uses them)


def cores():
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()


def cpuinfo(path='/proc/cpuinfo'):
    """{field: value} of the first processor in /proc/cpuinfo ({} when there is none)."""
    if not os.path.exists(path):
        return {}
    fields = {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                break
            key, _, value = line.partition(':')
            fields[key.strip()] = value.strip()
    return fields


def has_bfloat16(info=None):
    """True when the CPU computes bfloat16 dot products natively (AVX512-BF16 or AMX), so TensorFlow's oneDNN
    bfloat16 rewrite speeds training up instead of emulating it."""
    flags = (cpuinfo() if info is None else info).get('flags', '').split()
    return any(flag in flags for flag in BFLOAT16_FLAGS)
