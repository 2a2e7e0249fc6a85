"""The word count's split bolt in Python, written with pystorm (PyPI
`pystorm`, the multilang library of streamparse) and run by Squall's
`shell` bolt over Storm's multilang protocol. A word is a maximal run of
letters and digits, lowercased, as in Squall's built-in `split_words`, so
the counts equal those of examples/word-count.yaml.

Its one optional argument names pystorm's serializer: `json` (the
default, Storm's) or `msgpack` (pystorm's MessagePack; the shell bolt must
say `serializer: msgpack` too)."""
import re
import sys

from pystorm import Bolt

WORD = re.compile(r"[^\W_]+")


class SplitBolt(Bolt):
    def process(self, tup):
        for word in WORD.findall(tup.values[0]):
            self.emit([word.lower()])


if __name__ == "__main__":
    SplitBolt(serializer=sys.argv[1] if len(sys.argv) > 1 else "json").run()
