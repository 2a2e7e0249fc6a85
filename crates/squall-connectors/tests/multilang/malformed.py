"""Makes the handshake with Apache Storm's `storm.py`, then answers its
first tuple with a message that is not JSON (an unfinished emit)."""
import sys

import storm

storm.initComponent()
storm.readTuple()
sys.stdout.write('{"command": "emit", "tuple": ["half a\n')
sys.stdout.write("end\n")
sys.stdout.flush()
storm.readTuple()
