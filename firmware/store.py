"""A bounded queue of readings on the board's flash that a reset at any moment cannot corrupt.

Files in one folder:
  q<gen>.dat  append-only records: length (2 bytes), sequence number (4), payload, checksum (4,
              Adler-32 of sequence number and payload); a reset mid-append leaves a torn tail
              that the next open() cuts off (everything before it is intact).
  head        the committed state: "<gen> <offset> <next_seq> <dropped> <checksum>", where
              offset is the first record not yet acknowledged. Written as head.tmp, then
              renamed over head, so it is always either the old or the new state. Where a
              rename over a file is a remove and a rename (FAT), a reset between the two leaves
              only head.tmp, complete (it was closed before the rename): open() takes it then.

Acknowledged records are not erased one by one: the head moves past them. When the queue is
empty or the acknowledged part exceeds compact_bytes, the unacknowledged records are copied to
q<gen+1>.dat and the head's rename switches to it (the commit point); the old file is removed
afterwards, or at the next open if a reset came first.

Bounded: with max_records queued, append() drops the oldest first and counts it in `dropped`
(persisted). Sequence numbers are persisted too: a reading keeps its number across resets, so
a server de-duplicates readings sent twice (a reset after the send, before the head moved).

Only open(), os.rename/remove/stat/listdir/mkdir and struct: every MicroPython port has them.
"""

import os
import struct

try:
    from micropython import const
except ImportError:  # CPython (tools)

    def const(x):
        return x


_HEAD = const(10)  # length (2) + sequence number (4) + checksum (4) around the payload
_COPY = const(512)


def adler32(data, a=1, b=0):
    for x in data:
        a = (a + x) % 65521
        b = (b + a) % 65521
    return (b << 16) | a


def _checksum(seq, payload):
    a = adler32(struct.pack(">I", seq))
    return adler32(payload, a & 0xFFFF, a >> 16)


class Store:
    """Readings (bytes) queued in folder `path`, oldest first, at most `max_records`."""

    def __init__(self, path, max_records=500, max_record=1024, compact_bytes=16384):
        self.path = path
        self.compact_bytes = compact_bytes
        self.max_records = max_records
        self.max_record = max_record
        self.gen = self.offset = self.dropped = 0
        self.next_seq = 1
        self.count = 0  # records queued (not yet acknowledged)
        self.last_dropped = None  # sequence number of the reading dropped last (this session)
        self.end = 0  # end of the last whole record of the data file
        self._open()

    def _file(self, name):
        return self.path + "/" + name

    def _data(self, gen=None):
        return self._file("q%d.dat" % (self.gen if gen is None else gen))

    def _open(self):
        try:
            os.mkdir(self.path)
        except OSError:
            pass  # it exists
        head = self._read_head("head")
        tmp = None if head else self._read_head("head.tmp")
        if head or tmp:
            self.gen, self.offset, self.next_seq, self.dropped = head or tmp
        if tmp:
            self._commit()  # finish the commit a reset interrupted (head is written again)
        for name in os.listdir(self.path):
            if name == "head.tmp" or (name.endswith(".dat") and name != "q%d.dat" % self.gen):
                os.remove(self._file(name))  # left by a reset before or after a commit
        size = self._size()
        self.offset = min(self.offset, size)
        self.count, self.end, last = self._scan()
        self.next_seq = max(self.next_seq, last + 1)
        if self.end < size:  # a torn append: keep only the whole records
            self._compact()

    def _read_head(self, name):
        """(gen, offset, next_seq, dropped) from a head file, or None if missing or torn."""
        try:
            with open(self._file(name)) as f:
                words = f.read().split()
            state = tuple(int(x) for x in words[:4])
            if len(words) == 5 and int(words[4]) == adler32(" ".join(words[:4]).encode()):
                return state
        except (OSError, ValueError):
            pass
        return None

    def _size(self):
        try:
            return os.stat(self._data())[6]
        except OSError:
            return 0

    def _scan(self):
        """(records, end of the last whole one, its sequence number) from the head on."""
        count, pos, last = 0, self.offset, 0
        try:
            f = open(self._data(), "rb")
        except OSError:
            return 0, pos, 0
        with f:
            f.seek(pos)
            while True:
                rec = self._read(f)
                if rec is None:
                    return count, pos, last
                last = rec[0]
                count += 1
                pos += _HEAD + len(rec[1])

    def _read(self, f):
        """(sequence number, payload) of the whole record at f's position, or None."""
        head = f.read(6)
        if len(head) < 6:
            return None
        n, seq = struct.unpack(">HI", head)
        if n > self.max_record:
            return None
        payload = f.read(n)
        check = f.read(4)
        if len(payload) < n or len(check) < 4:
            return None
        if struct.unpack(">I", check)[0] != _checksum(seq, payload):
            return None
        return seq, payload

    def _commit(self):
        # The one atomic step: write the state beside the head file, then rename it over.
        tmp = self._file("head.tmp")
        state = "%d %d %d %d" % (self.gen, self.offset, self.next_seq, self.dropped)
        with open(tmp, "w") as f:
            f.write("%s %d\n" % (state, adler32(state.encode())))
        os.rename(tmp, self._file("head"))

    def _compact(self):
        """Move the queued records to a fresh data file and switch the head to it."""
        old = self.gen
        new = self._data(old + 1)
        with open(new, "wb") as out:
            if self.count:
                buf = bytearray(_COPY)
                with open(self._data(), "rb") as f:
                    f.seek(self.offset)
                    left = self.end - self.offset
                    while left > 0:
                        n = f.readinto(buf)
                        if not n:
                            break
                        n = min(n, left)
                        out.write(memoryview(buf)[:n])
                        left -= n
        self.gen, self.end, self.offset = old + 1, self.end - self.offset, 0
        self._commit()
        try:
            os.remove(self._data(old))
        except OSError:
            pass  # it never existed (an empty queue)

    def append(self, payload):
        """Queue one reading, numbered `self.next_seq` (the caller put that number in it).
        When the queue is full the oldest reading is dropped first and counted."""
        if len(payload) > self.max_record:
            raise ValueError("reading longer than %d bytes" % self.max_record)
        if self.count >= self.max_records:
            with open(self._data(), "rb") as f:
                f.seek(self.offset)
                n, self.last_dropped = struct.unpack(">HI", f.read(6))
            self.offset += _HEAD + n
            self.count -= 1
            self.dropped += 1
            self._commit()
        seq = self.next_seq
        rec = struct.pack(">HI", len(payload), seq) + payload
        rec += struct.pack(">I", _checksum(seq, payload))
        with open(self._data(), "ab") as f:
            f.write(rec)
        self.next_seq = seq + 1
        self.end += len(rec)
        self.count += 1
        return seq

    def peek(self, max_n=8, max_bytes=1024):
        """The oldest queued readings: ([(seq, payload), ...], mark). At least one when any
        is queued, then as many as fit in max_bytes. Pass mark to ack() once the server has
        them."""
        out, size, pos = [], 0, self.offset
        if not self.count:
            return out, pos
        with open(self._data(), "rb") as f:
            f.seek(pos)
            while len(out) < min(max_n, self.count):
                rec = self._read(f)
                if rec is None or (out and size + len(rec[1]) > max_bytes):
                    break
                out.append(rec)
                size += len(rec[1])
                pos += _HEAD + len(rec[1])
        return out, pos

    def ack(self, batch, mark):
        """The server has acknowledged `batch` (from peek()): move the head past it. Readings
        of the batch that append() dropped meanwhile (the queue filled up while the batch was
        on its way, as when a sampling task goes on during the POST) were delivered after
        all: they no longer count as dropped."""
        gone = 0
        if self.last_dropped is not None:
            for seq, _ in batch:
                if seq <= self.last_dropped:
                    gone += 1
        self.dropped -= gone
        self.offset = max(self.offset, mark)
        self.count -= len(batch) - gone
        if not self.count or self.offset >= self.compact_bytes:
            self._compact()
        else:
            self._commit()
