"""A pystorm bolt that uses more of the protocol: for each line it emits
the line's length on stream `lengths`, asking for the task ids it went to
(`need_task_ids=True`) and reporting the ids seen so far as the metric
`length_tasks`; and every word, lowercased, with the task it chose, on the
direct stream `words`, to the task of component `by_task` (found in the
handshake's `task->component`) picked by the word's CRC-32."""
import re
import zlib

from pystorm import Bolt

WORD = re.compile(r"[^\W_]+")


class Router(Bolt):
    def initialize(self, conf, context):
        tasks = context["task->component"]
        self.sinks = sorted(int(t) for t, c in tasks.items() if c == "by_task")
        self.length_tasks = set()

    def process(self, tup):
        line = tup.values[0]
        tasks = self.emit([len(line)], stream="lengths", need_task_ids=True)
        if not set(tasks) <= self.length_tasks:
            self.length_tasks.update(tasks)
            self.report_metric("length_tasks", sorted(self.length_tasks))
        for word in WORD.findall(line):
            word = word.lower()
            task = self.sinks[zlib.crc32(word.encode("utf-8")) % len(self.sinks)]
            self.emit([word, task], stream="words", direct_task=task)


if __name__ == "__main__":
    Router().run()
