"""A storm.py split bolt that also talks: on its first tuple it writes a
line to stderr and sends a `log` command at level warn; it reports the
number of lines it split as the metric `lines`."""
import re
import sys

import storm

WORD = re.compile(r"[^\W_]+")


class NoisySplitBolt(storm.BasicBolt):
    def initialize(self, conf, context):
        self.lines = 0

    def process(self, tup):
        if self.lines == 0:
            sys.stderr.write("noisy: a line on stderr\n")
            sys.stderr.flush()
            storm.logWarn("noisy: a log command")
        self.lines += 1
        storm.rpcMetrics("lines", self.lines)
        for word in WORD.findall(tup.values[0]):
            storm.emit([word.lower()])


NoisySplitBolt().run()
