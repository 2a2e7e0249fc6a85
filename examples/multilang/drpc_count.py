"""A DRPC function in Python (pystorm, run by Squall's `shell` bolt): the
number of times the word in a request's args occurs in the plays of the
folder given as the first argument (a word as in split.py). Emits
`(result, return-info)` for the `drpc_return` bolt. Args `wait:PATH` are
never answered: the bolt creates the file PATH and keeps the request
(tests use it to hold a request in flight)."""
import os
import re
import sys
from collections import Counter

from pystorm import Bolt

WORD = re.compile(r"[^\W_]+")


class CountBolt(Bolt):
    def initialize(self, conf, context):
        self.counts = Counter()
        folder = sys.argv[1]
        for name in sorted(os.listdir(folder)):
            if name.endswith(".txt"):
                with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as f:
                    self.counts.update(w.lower() for w in WORD.findall(f.read()))

    def process(self, tup):
        args, request = tup.values
        if args.startswith("wait:"):
            open(args[len("wait:"):], "w").close()
            return
        self.emit([str(self.counts[args.lower()]), request])


if __name__ == "__main__":
    CountBolt().run()
