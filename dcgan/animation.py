"""Animated GIFs written a frame at a time, so memory stays flat in the number of frames, and a run's
progress animation that grows by appending, thinned to a bounded number of frames, however long the run.

Each frame is encoded on its own by Pillow (a one-frame GIF) and moved into the animation with its own
colour table, so frames never depend on each other and can be copied, dropped or re-timed as bytes.
"""
import io
import json
import os
import struct

from dcgan.atomic import atomic_file, write_json

SIGNATURE = b'GIF89a'
LOOP_FOREVER = b'!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00'   # the application extension browsers loop by
TRAILER = b';'
DELAY_OFFSET = 4          # where a frame's delay (centiseconds, little-endian) sits in its graphic control block
MAX_FRAMES = 256          # a progress animation keeps at most this many frames, spread over the whole run
FRAME_SECONDS = 0.4       # how long a progress frame shows
HOLD_SECONDS = 2.0        # how long the newest (last) frame shows before the animation loops


def skip_blocks(data, pos):
    """The position after a chain of GIF data sub-blocks starting at `pos` (ended by a zero-length block)."""
    while data[pos]:
        pos += data[pos] + 1
    return pos + 1


def control_block(seconds):
    """A graphic control extension: show the frame for `seconds`, no transparency, no disposal."""
    return b'!\xf9\x04\x00' + struct.pack('<H', round(seconds * 100)) + b'\x00\x00'


def encode_frame(image, seconds):
    """(width, height, bytes) of one self-contained GIF frame of a PIL image: a control block with its delay,
    the image descriptor with a local colour table, and the compressed pixels."""
    buffer = io.BytesIO()
    image.save(buffer, 'GIF')
    data = buffer.getvalue()
    width, height, packed = struct.unpack('<HHB', data[6:11])
    pos = 13
    table = b''
    if packed & 0x80:
        table = data[pos:pos + 3 * 2 ** ((packed & 7) + 1)]
        pos += len(table)
    while data[pos] == 0x21:                 # Pillow's own extensions: replaced by ours
        pos = skip_blocks(data, pos + 2)
    if data[pos] != 0x2C:
        raise ValueError('Pillow wrote no image descriptor')
    descriptor, flags = bytearray(data[pos:pos + 10]), data[pos + 9]
    pos += 10
    if flags & 0x80:                         # it has its own table already
        local = data[pos:pos + 3 * 2 ** ((flags & 7) + 1)]
        pos += len(local)
    else:                                    # carry the global table along as the frame's local one
        local = table
        descriptor[9] = (flags & 0x60) | 0x80 | (packed & 7)
    pixels_start = pos
    pos = skip_blocks(data, pos + 1)         # after the LZW minimum code size: the pixel sub-blocks
    return width, height, control_block(seconds) + bytes(descriptor) + local + data[pixels_start:pos]


def screen_header(width, height):
    """The start of an animation of `width` x `height` frames that loops forever (no global colour table)."""
    return SIGNATURE + struct.pack('<HHBBB', width, height, 0, 0, 0) + LOOP_FOREVER


class GifWriter:
    """Write frames to an open binary file one at a time: header on the first, trailer on close()."""

    def __init__(self, f):
        self.file, self.size, self.frames = f, None, 0

    def add(self, image, seconds):
        width, height, frame = encode_frame(image, seconds)
        if self.size is None:
            self.size = (width, height)
            self.file.write(screen_header(width, height))
        elif (width, height) != self.size:
            raise ValueError(f'frame of {width}x{height} in an animation of {self.size[0]}x{self.size[1]}')
        self.file.write(frame)
        self.frames += 1

    def close(self):
        self.file.write(TRAILER)


def save_frames(frames, path, seconds):
    """Save an iterable of PIL images as a looping animated GIF at `path`, atomically, one frame in memory."""
    with atomic_file(path) as tmp, open(tmp, 'wb') as f:
        writer = GifWriter(f)
        for image in frames:
            writer.add(image, seconds)
        if writer.frames == 0:
            raise ValueError('an animation needs at least one frame')
        writer.close()


class GrowingAnimation:
    """The animation of a whole run, at `path`: one frame per progress grid, appended in place. Past
    max_frames every other frame is dropped and only every 2nd, 4th, ... grid is added from then on, so the
    file stays bounded and still spans the run. An index beside it records each frame's step and byte span.
    A file or index that does not match is started afresh."""

    def __init__(self, path, max_frames=None, seconds=FRAME_SECONDS, hold=HOLD_SECONDS):
        self.path, self.seconds, self.hold = path, seconds, hold
        self.max_frames = max_frames or MAX_FRAMES
        self.index_path = os.path.join(os.path.dirname(path), f'.{os.path.basename(path)}.json')
        self.index = self.read_index()

    def read_index(self):
        """The index (size, stride, seen, frames: [step, offset, length]) if it matches the file, else empty."""
        try:
            with open(self.index_path) as f:
                index = json.load(f)
            frames = index['frames']
            end = frames[-1][1] + frames[-1][2] if frames else 0
            if frames and os.path.getsize(self.path) >= end:
                return index
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            pass
        return dict(size=None, stride=1, seen=0, frames=[])

    def add(self, step, image):
        """Add the grid of training step `step` (every `stride`-th grid is kept)."""
        index = self.index
        index['seen'] += 1
        if (index['seen'] - 1) % index['stride']:
            return write_json(index, self.index_path)
        width, height, frame = encode_frame(image, self.hold)
        if index['size'] != [width, height] or not index['frames']:
            self.start(width, height)
        frames = index['frames']
        last_step, last_offset, _ = frames[-1] if frames else (None, None, None)
        end = frames[-1][1] + frames[-1][2] if frames else len(screen_header(width, height))
        with open(self.path, 'r+b') as f:
            if last_offset is not None:       # the newest frame so far is held no longer
                f.seek(last_offset + DELAY_OFFSET)
                f.write(struct.pack('<H', round(self.seconds * 100)))
            f.seek(end)
            f.write(frame + TRAILER)
            f.truncate()
        frames.append([step, end, len(frame)])
        if len(frames) > self.max_frames:
            self.rewrite(frames[::2])
            index['stride'] *= 2
        write_json(index, self.index_path)

    def start(self, width, height):
        """Begin a new animation of `width` x `height` frames."""
        with atomic_file(self.path) as tmp, open(tmp, 'wb') as f:
            f.write(screen_header(width, height) + TRAILER)
        self.index.update(size=[width, height], frames=[])

    def rewind(self, step):
        """Drop the frames of steps after `step` (a run resumed from an earlier checkpoint draws them again)."""
        kept = [frame for frame in self.index['frames'] if frame[0] <= step]
        if len(kept) < len(self.index['frames']):
            self.index['seen'] = len(kept) * self.index['stride']
            if kept:
                self.rewrite(kept)
            else:
                self.index['frames'] = []
            write_json(self.index, self.index_path)

    def rewrite(self, kept):
        """Write the animation again with only the `kept` frames (copied as bytes), atomically."""
        width, height = self.index['size']
        with open(self.path, 'rb') as old, atomic_file(self.path) as tmp, open(tmp, 'wb') as new:
            new.write(screen_header(width, height))
            frames = []
            for number, (step, offset, length) in enumerate(kept):
                old.seek(offset)
                frame = bytearray(old.read(length))
                seconds = self.hold if number == len(kept) - 1 else self.seconds
                frame[DELAY_OFFSET:DELAY_OFFSET + 2] = struct.pack('<H', round(seconds * 100))
                frames.append([step, new.tell(), length])
                new.write(frame)
            new.write(TRAILER)
        self.index['frames'] = frames
