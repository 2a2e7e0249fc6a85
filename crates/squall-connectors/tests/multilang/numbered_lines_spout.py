"""A reliable spout written with Apache Storm's `storm.py`: emits every
line (ended by `\n`) of the file LINES_FILE with its line number as message id, keeps
each until it is acked, and emits it again when it fails (from `fail`
itself, as Storm's reliable spouts do). Reports the number of lines acked
and of fails received as the metrics `acked` and `failed`. Never ends:
once every line is out it has nothing more to emit."""
import os

import storm


class NumberedLinesSpout(storm.Spout):
    def initialize(self, conf, context):
        with open(os.environ["LINES_FILE"], encoding="utf-8", newline="") as f:
            self.lines = f.read().split("\n")[:-1]
        self.next = 0
        self.pending = {}
        self.acked = 0
        self.failed = 0

    def nextTuple(self):
        if self.next < len(self.lines):
            line = self.lines[self.next]
            self.pending[self.next] = line
            storm.emit([line], id=self.next)
            self.next += 1

    def ack(self, id):
        del self.pending[id]
        self.acked += 1
        storm.rpcMetrics("acked", self.acked)

    def fail(self, id):
        self.failed += 1
        storm.rpcMetrics("failed", self.failed)
        storm.emit([self.pending[id]], id=id)


NumberedLinesSpout().run()
