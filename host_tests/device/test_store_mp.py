# The firmware's flash queue (firmware/store.py) under the MicroPython unix port, with power
# cuts: a scenario of appends, drops when full, acknowledgements and compactions runs once per
# step (every write, close, rename, remove, mkdir), with the power cut at that step: a write
# then stores only its first half and nothing after it happens. Reopening must give the state
# before or after the interrupted operation, never anything else (nothing stored is lost,
# nothing acknowledged comes back, sequence numbers are never reused).
# Run by host_tests/test_store.py with STORE_TEST_DIR set to an empty folder.

import os

import store
from mptest import eq, ok, run, test

DIR = os.getenv("STORE_TEST_DIR")
REAL_OPEN = open
REAL_OS = os


class Cut(Exception):
    pass


class Power:
    """Counts the steps that change the flash; at step `at` the power goes."""

    def __init__(self, at):
        self.at = at
        self.steps = 0
        self.off = False

    def step(self):
        if self.off:
            raise Cut()
        self.steps += 1
        if self.steps == self.at:
            self.off = True
            return True
        return False


class CutFile:
    def __init__(self, power, f):
        self.power = power
        self.f = f

    def write(self, b):
        if self.power.step():
            self.f.write(b[: len(b) // 2])  # a torn write
            raise Cut()
        return self.f.write(b)

    def read(self, *a):
        return self.f.read(*a)

    def readinto(self, b):
        return self.f.readinto(b)

    def seek(self, *a):
        return self.f.seek(*a)

    def close(self):
        cut = not self.power.off and self.power.step()
        self.f.close()
        if cut:
            raise Cut()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.close()
        else:
            self.f.close()


class CutOS:
    """os with power cuts; fat=True renames over a file as FAT does: remove, then rename."""

    def __init__(self, power, fat=False):
        self.power = power
        self.fat = fat

    def _do(self, f, *a):
        if self.power.step():
            raise Cut()
        return f(*a)

    def rename(self, a, b):
        if self.fat:
            try:
                REAL_OS.stat(b)
            except OSError:
                pass
            else:
                self._do(REAL_OS.remove, b)
        return self._do(REAL_OS.rename, a, b)

    def remove(self, p):
        return self._do(REAL_OS.remove, p)

    def mkdir(self, p):
        return self._do(REAL_OS.mkdir, p)

    def listdir(self, p):
        return REAL_OS.listdir(p)

    def stat(self, p):
        return REAL_OS.stat(p)


def wipe(path):
    try:
        for name in os.listdir(path):
            os.remove(path + "/" + name)
        os.rmdir(path)
    except OSError:
        pass


def use(power, fat=False):
    if power is None:
        store.open, store.os = REAL_OPEN, REAL_OS
    else:
        store.open = lambda p, mode="r": CutFile(power, REAL_OPEN(p, mode))
        store.os = CutOS(power, fat)


def state(s):
    batch, _ = s.peek(1000, 1 << 20)
    return batch, s.next_seq, s.dropped


def reading(i):
    return b'{"n":%d,"pad":"%s"}' % (i, "x" * (i % 7))


def do(s, op):
    kind, n = op
    if kind == "append":
        s.append(reading(n))
    else:  # acknowledge the n oldest
        batch, mark = s.peek(n, 1 << 20)
        s.ack(batch, mark)


# Two appends, an acknowledgement that compacts (compact_bytes is small), four appends into a
# queue of three (the last drops the oldest), two acknowledgements (the second empties it).
OPS = [("append", 1), ("append", 2), ("ack", 2), ("append", 3), ("append", 4), ("append", 5),
       ("append", 6), ("ack", 2), ("ack", 5), ("append", 7)]  # fmt: skip


def new_store(path):
    return store.Store(path, max_records=3, compact_bytes=60)


def model(path):
    """The state before each operation and after the last one, without faults."""
    wipe(path)
    s = new_store(path)
    states = [state(s)]
    for op in OPS:
        do(s, op)
        states.append(state(s))
    return states


@test
def scenario_without_faults():
    states = model(DIR + "/m")
    batch, seq, dropped = states[-1]
    eq([r[1] for r in batch], [reading(7)])
    eq((seq, dropped), (8, 1))
    eq(states[7][0][0][0], 4)  # the full queue dropped reading 3
    s = new_store(DIR + "/m")  # reopened: the same
    eq(state(s), states[-1])
    eq(sorted(os.listdir(DIR + "/m")), ["head", "q3.dat"])


@test
def power_cut_at_every_step():
    cut_at_every_step(False)


@test
def power_cut_at_every_step_with_fat_renames():
    cut_at_every_step(True)  # a rename over a file is a remove, then a rename


def cut_at_every_step(fat):
    states = model(DIR + "/m")
    path = DIR + "/c"
    at = 1
    cuts = 0
    while True:
        wipe(path)
        power = Power(at)
        use(power, fat)
        done = 0
        try:
            s = new_store(path)
            for op in OPS:
                do(s, op)
                done += 1
        except Cut:
            pass
        finally:
            use(None)
        if not power.off:
            break  # the scenario ran to the end: every step has been cut once
        cuts += 1
        s = new_store(path)
        got = state(s)
        before, after = states[done], states[done + 1]
        allowed = [before, after]
        if OPS[done][0] == "append" and len(before[0]) == 3:
            # an append into a full queue: the drop is committed before the append
            allowed.append((before[0][1:], before[1], before[2] + 1))
        ok(got in allowed, "cut at step %d (in operation %d): %r not in %r"
           % (at, done, got, allowed))  # fmt: skip
        seqs = [r[0] for r in before[0]] + [r[0] for r in got[0]]
        ok(s.next_seq > max(seqs + [0]), "sequence number reused after cut at %d" % at)
        # and it goes on working
        s.append(b"after")
        eq(state(s)[0][-1], (s.next_seq - 1, b"after"))
        eq(len([n for n in os.listdir(path) if n.endswith(".dat")]), 1)
        at += 1
    ok(cuts > 30, "only %d steps" % cuts)
    print("power cut at each of %d steps%s: state before or after, never anything else"
          % (cuts, " (FAT renames)" if fat else ""))  # fmt: skip


@test
def torn_tail_is_cut_off_and_numbers_go_on():
    path = DIR + "/t"
    wipe(path)
    s = new_store(path)
    s.append(b"one")
    s.append(b"two")
    with open(path + "/q0.dat", "ab") as f:
        f.write(b"\x00\x10\x00\x00\x00\x03par")  # a reading cut short
    s = new_store(path)
    eq(state(s), ([(1, b"one"), (2, b"two")], 3, 0))
    eq(s.append(b"three"), 3)
    eq(new_store(path).peek(10)[0][-1], (3, b"three"))


@test
def batches_respect_the_byte_limit():
    path = DIR + "/b"
    wipe(path)
    s = store.Store(path)
    for _ in range(10):
        s.append(b"x" * 100)
    batch, mark = s.peek(8, 350)
    eq([r[0] for r in batch], [1, 2, 3])
    s.ack(batch, mark)
    eq(s.count, 7)
    batch, _ = s.peek(8, 10)
    eq(len(batch), 1)  # at least one, whatever its size
    eq(store.Store(path).count, 7)


@test
def a_reading_too_long_is_refused():
    path = DIR + "/l"
    wipe(path)
    s = store.Store(path, max_record=16)
    try:
        s.append(b"y" * 17)
    except ValueError:
        pass
    else:
        raise AssertionError("no ValueError")
    eq(s.count, 0)


run()
