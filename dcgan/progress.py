"""Progress bars that survive every way the project is run: plain text on stdout (tqdm's text mode, never
a widget). In a terminal the bar redraws in place; anywhere else (a notebook kernel, papermill, a CI log,
output redirected to a file) there is no cursor to move back, so each redraw is a line of its own, written
every few seconds: headless logs and executed notebooks show steady progress lines."""
import sys

from tqdm import tqdm

TERMINAL_INTERVAL = 0.5    # seconds between redraws when someone watches a terminal
NOTEBOOK_INTERVAL = 10.0   # between progress lines in a notebook kernel (live or papermill)
HEADLESS_INTERVAL = 15.0   # between progress lines in a log file or a CI log


class LineStream:
    """A file for tqdm that writes each redraw as its own line instead of going back over the last one
    with a carriage return (the padding tqdm adds to erase a longer old line is dropped, and so is a
    redraw that repeats the line before it, as tqdm's monitor thread makes when nothing moved)."""

    def __init__(self, stream):
        self.stream, self.last = stream, None

    @property
    def encoding(self):
        return getattr(self.stream, 'encoding', None)

    def write(self, text):
        for line in text.replace('\r', '\n').split('\n'):
            line = line.rstrip()
            if line and line != self.last:
                self.stream.write(line + '\n')
                self.last = line

    def flush(self):
        self.stream.flush()


def refresh_interval():
    """How often to redraw, by who is watching."""
    if sys.stdout.isatty():
        return TERMINAL_INTERVAL
    return NOTEBOOK_INTERVAL if 'ipykernel' in sys.modules else HEADLESS_INTERVAL


def progress(iterable=None, **options):
    """A text tqdm bar on stdout (the same arguments as tqdm): in place in a terminal, else line by line."""
    options.setdefault('mininterval', refresh_interval())
    if sys.stdout.isatty():
        return tqdm(iterable, file=sys.stdout, **options)
    options.setdefault('miniters', 1)   # a fixed miniters: tqdm's monitor thread never redraws a stale count
    return tqdm(iterable, file=LineStream(sys.stdout), ascii=True, **options)
