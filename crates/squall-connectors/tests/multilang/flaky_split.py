"""A pystorm split bolt that misbehaves on purpose, as environment
variables say:

- FAIL_ONE_IN=N: fails (without emitting) the lines whose CRC-32 is 0
  modulo N, the first time this process sees each of them; a replay
  succeeds. Deterministic: the same lines fail on every run.
- KILL_AT=N, MARKER=path: on receiving its N-th tuple, if `path` does not
  exist, creates it and sends itself SIGKILL (once per test, not per
  restart).
- HANG_AT=N, MARKER=path: the same, but stops answering instead.

Acks and fails by hand (auto_ack off), anchoring the words to the line."""
import os
import re
import signal
import time
import zlib

from pystorm import Bolt

WORD = re.compile(r"[^\W_]+")


def once(marker):
    """True the first time any process of the test asks."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


class FlakySplitBolt(Bolt):
    auto_ack = False

    def initialize(self, conf, context):
        self.fail_one_in = int(os.environ.get("FAIL_ONE_IN", "0"))
        self.kill_at = int(os.environ.get("KILL_AT", "0"))
        self.hang_at = int(os.environ.get("HANG_AT", "0"))
        self.marker = os.environ.get("MARKER", "")
        self.seen = 0
        self.failed = set()

    def process(self, tup):
        self.seen += 1
        if self.seen == self.kill_at and once(self.marker):
            os.kill(os.getpid(), signal.SIGKILL)
        if self.seen == self.hang_at and once(self.marker):
            while True:
                time.sleep(3600)
        line = tup.values[0]
        if self.fail_one_in and line not in self.failed:
            if zlib.crc32(line.encode("utf-8")) % self.fail_one_in == 0:
                self.failed.add(line)
                self.fail(tup)
                return
        for word in WORD.findall(line):
            self.emit([word.lower()])
        self.ack(tup)


if __name__ == "__main__":
    FlakySplitBolt().run()
