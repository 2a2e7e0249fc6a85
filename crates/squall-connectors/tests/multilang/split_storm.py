"""Splits lines into words, written with Apache Storm's own `storm.py`
(from the jar `org.apache.storm:multilang-python`, on PYTHONPATH): a
`BasicBolt`, which anchors every emit to the input and acks it after
`process`; every `storm.emit` waits for the list of task ids."""
import re

import storm

WORD = re.compile(r"[^\W_]+")


class SplitBolt(storm.BasicBolt):
    def process(self, tup):
        for word in WORD.findall(tup.values[0]):
            storm.emit([word.lower()])


SplitBolt().run()
