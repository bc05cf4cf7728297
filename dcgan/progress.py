"""Progress bars that survive every way the project is run: plain text on stdout (tqdm's text mode), so
terminals, notebooks, papermill logs and static notebook views all keep them; headless runs update less
often so their logs stay readable."""
import sys

from tqdm import tqdm

TERMINAL_INTERVAL = 0.5    # seconds between updates when someone watches a terminal
NOTEBOOK_INTERVAL = 2.0    # in a notebook kernel (live or papermill)
HEADLESS_INTERVAL = 15.0   # output redirected to a file or a CI log


def refresh_interval():
    """How often to redraw, by who is watching."""
    if sys.stdout.isatty():
        return TERMINAL_INTERVAL
    return NOTEBOOK_INTERVAL if 'ipykernel' in sys.modules else HEADLESS_INTERVAL


def progress(iterable=None, **options):
    """A text tqdm bar on stdout (the same arguments as tqdm)."""
    options.setdefault('mininterval', refresh_interval())
    return tqdm(iterable, file=sys.stdout, ascii=not sys.stdout.isatty() or None, **options)
