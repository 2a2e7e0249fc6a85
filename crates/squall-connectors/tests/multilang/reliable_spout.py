"""A spout written with pystorm's `ReliableSpout`: emits every line (ended
by `\\n`) of the file LINES_FILE with the string id `line-N`; pystorm keeps
each until it is acked and emits it again when it fails (up to 3 times).
Reports the lines acked as the metric `acked`. Speaks pystorm's serializer
PYSTORM_SERIALIZER (`json` unless set)."""
import os

from pystorm.spout import ReliableSpout


class LinesSpout(ReliableSpout):
    max_fails = 100

    def initialize(self, conf, context):
        with open(os.environ["LINES_FILE"], encoding="utf-8", newline="") as f:
            self.lines = f.read().split("\n")[:-1]
        self.next = 0
        self.acked = 0

    def next_tuple(self):
        if self.next < len(self.lines):
            self.emit([self.lines[self.next]], tup_id="line-%d" % self.next)
            self.next += 1

    def ack(self, tup_id):
        super(LinesSpout, self).ack(tup_id)
        self.acked += 1
        self.report_metric("acked", self.acked)


if __name__ == "__main__":
    LinesSpout(serializer=os.environ.get("PYSTORM_SERIALIZER", "json")).run()
