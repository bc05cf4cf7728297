"""The memory benchmark's pieces: its synthetic IDX data and one measured process."""
import concurrent.futures

import numpy as np

from benchmarks import memory as BENCHMARK
from dcgan.data.archives import read_idx_images


def test_synthetic_idx_file_has_the_requested_images(tmp_path):
    path = str(tmp_path / 'images-idx3-ubyte')
    BENCHMARK.write_idx(path, 10_050)
    images = read_idx_images(path)
    assert images.shape == (10_050, 28, 28) and images.dtype == np.uint8 and images.std() > 50


def test_memory_figures_come_from_proc_status(tmp_path):
    status = tmp_path / 'status'
    status.write_text('Name:\tpython\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nRssAnon:\t   512 kB\n'
                      'RssFile:\t   512 kB\nThreads:\t4\n')
    assert BENCHMARK.memory_mb(str(status)) == {'VmHWM': 2.0, 'VmRSS': 1.0, 'RssAnon': 0.5, 'RssFile': 0.5}


def test_each_loader_reads_a_full_epoch_and_trains(tmp_path):
    idx_file, cache_dir = str(tmp_path / 'images-idx3-ubyte'), str(tmp_path / 'cache')
    BENCHMARK.write_idx(idx_file, 640)
    BENCHMARK.build_cache(idx_file, cache_dir)
    with concurrent.futures.ThreadPoolExecutor(len(BENCHMARK.LOADERS)) as pool:   # side by side: each only reads
        results = list(pool.map(lambda loader: BENCHMARK.run_subprocess(loader, idx_file, cache_dir, steps=2),
                                BENCHMARK.LOADERS))
    for result in results:
        assert result['batches'] == 10 and result['VmHWM'] >= result['RssAnon'] > 0
