"""Splits lines into words, written with pystorm (PyPI `pystorm`, the
multilang library of streamparse): a plain `Bolt`, auto-anchored and
auto-acked. A word is a maximal run of letters and digits, lowercased,
as Squall's `split_words` says."""
import re

from pystorm import Bolt

WORD = re.compile(r"[^\W_]+")


class SplitBolt(Bolt):
    def process(self, tup):
        for word in WORD.findall(tup.values[0]):
            self.emit([word.lower()])


if __name__ == "__main__":
    SplitBolt().run()
