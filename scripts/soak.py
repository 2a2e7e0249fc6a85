#!/usr/bin/env python3
"""The chaos soak (issue 19): a whole Squall cluster on this machine, an
exactly-once word count running for a long time, and seeded random faults.

Starts etcd, two nimbus daemons and three supervisors (each in its own
network namespace on a bridge when `ip netns` is permitted), submits a word
count over three workers whose spout is a bounded generator cycling through
lines chosen from the Shakespeare corpus by the seed, with a checkpoint
every second. Every 20-60 s (seeded) it injects one fault and heals it:

  worker-kill      SIGKILL a worker (its supervisor starts it again)
  worker-stop      SIGSTOP a worker for 3-8 s, then SIGCONT
  supervisor-kill  SIGKILL a supervisor, start it again after 2-5 s
  supervisor-stop  SIGSTOP a supervisor for 3-10 s
  nimbus-kill      SIGKILL the leading nimbus, start it again after 3 s
  etcd-kill        SIGKILL etcd, start it again on its data after 2-5 s
  etcd-stop        SIGSTOP etcd for 3-8 s
  link-cut         take a supervisor's veth link down for 3-8 s (netns only)

At the end the committed output must equal the reference computed here from
the seed without the engine: every (word, n) update for n = 1..count exactly
once (`--at-least-once`: at least once, nothing lost). It prints the faults,
recovery times (from the heal to the second checkpoint committed after it;
p50 and max), the RSS of every daemon over time against a stated bound, the
checkpoint folders' sizes over time (retention), and the load average.

Not part of the test run; `scripts/soak.sh` runs it (see the README).
"""

import argparse
import collections
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "soak-token"
NAME = "soak"
WORD = re.compile(r"[A-Za-z0-9]+")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, done, patience=120.0):
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > patience:
            raise SystemExit(f"soak: timed out waiting for {what}")
        time.sleep(0.2)


def ip(*args):
    out = subprocess.run(["ip", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise OSError(f"ip {' '.join(args)}: {out.stderr.strip()}")


# ---------------------------------------------------------------- input


def corpus_lines(corpus, seed, count):
    """`count` lines of the corpus picked by the seed: non-empty, ASCII only
    (so that the engine's Unicode word split and this script's ASCII one
    agree), without surrounding blanks (the generator's reader drops blank
    lines only)."""
    lines = []
    for name in sorted(os.listdir(corpus)):
        if name.startswith("."):
            continue
        with open(os.path.join(corpus, name), "rb") as f:
            for raw in f.read().decode("utf-8", "replace").splitlines():
                line = raw.strip()
                if line and line.isascii() and WORD.search(line):
                    lines.append(line)
    if not lines:
        raise SystemExit(f"soak: no usable line in {corpus} (run scripts/fetch-corpus.sh)")
    rng = random.Random(seed)
    return [rng.choice(lines) for _ in range(count)]


def reference(lines, limit, tasks):
    """Word counts of what the generator emits: task i of `tasks` emits
    limit // tasks tuples (one more if i < limit % tasks), tuple seq being
    lines[seq % len(lines)]."""
    per_line = [collections.Counter(w.lower() for w in WORD.findall(l)) for l in lines]
    whole = collections.Counter()
    for c in per_line:
        whole.update(c)
    total = collections.Counter()
    for i in range(tasks):
        quota = limit // tasks + (1 if i < limit % tasks else 0)
        cycles, rest = divmod(quota, len(lines))
        for w, c in whole.items():
            total[w] += c * cycles
        for c in per_line[:rest]:
            total.update(c)
    return total


# ---------------------------------------------------------------- cluster


class Hosts:
    """A bridge in this namespace and one network namespace per supervisor,
    joined by veth pairs; removed by `remove`."""

    def __init__(self, n):
        tag = f"{os.getpid() % 100000:05d}"
        self.tag = tag
        net = f"10.{230 + os.getpid() % 20}.{os.getpid() % 250}"
        self.gateway = f"{net}.1"
        self.addresses = [f"{net}.{10 + i}" for i in range(n)]
        self.bridge = f"sqsb{tag}"
        self.made = []
        try:
            ip("link", "add", self.bridge, "type", "bridge")
            self.made.append(("link", self.bridge))
            ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            ip("link", "set", self.bridge, "up")
            for i in range(n):
                ns, outer, inner = self.namespace(i), self.link(i), f"sqsp{tag}{i}"
                ip("netns", "add", ns)
                self.made.append(("netns", ns))
                ip("link", "add", outer, "type", "veth", "peer", "name", inner)
                self.made.append(("link", outer))
                ip("link", "set", inner, "netns", ns)
                ip("link", "set", outer, "master", self.bridge, "up")
                ip("-n", ns, "addr", "add", f"{self.addresses[i]}/24", "dev", inner)
                ip("-n", ns, "link", "set", inner, "up")
                ip("-n", ns, "link", "set", "lo", "up")
        except OSError:
            self.remove()
            raise

    def namespace(self, i):
        return f"sqs{self.tag}-{i}"

    def link(self, i):
        return f"sqsv{self.tag}{i}"

    def remove(self):
        for kind, name in reversed(self.made):
            try:
                ip("link", "del", name) if kind == "link" else ip("netns", "del", name)
            except OSError:
                pass
        self.made = []


class Cluster:
    """etcd, two nimbus daemons and three supervisors, as processes whose
    logs go to `dir`."""

    def __init__(self, args, dir):
        self.bin, self.dir = args.bin, dir
        self.hosts = None
        if not args.no_netns:
            try:
                self.hosts = Hosts(3)
            except OSError as e:
                log(f"link-cut fault SKIPPED: network namespaces unavailable here ({e})")
        self.etcd_port, peer = free_port(), free_port()
        listen = [f"http://127.0.0.1:{self.etcd_port}"]
        if self.hosts:
            listen.append(f"http://{self.hosts.gateway}:{self.etcd_port}")
        self.etcd_args = [
            "etcd", "--data-dir", f"{dir}/etcd", "--listen-client-urls", ",".join(listen),
            "--advertise-client-urls", listen[0], "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            # etcd 3.6's default; 3.4's 100,000 raft entries kept in memory
            # between snapshots were the slow growth left after compaction.
            "--snapshot-count", "10000",
        ]
        if args.etcd_compaction:
            self.etcd_args += ["--auto-compaction-mode", "periodic",
                               "--auto-compaction-retention", args.etcd_compaction]
        self.procs = {}  # role -> Popen
        self.nimbus_ports = {}
        self.start_etcd()
        for n in ("nimbus-a", "nimbus-b"):
            self.nimbus_ports[n] = free_port()
            self.start(n)
        wait_until("a nimbus to lead", lambda: self.cli("list").returncode == 0)
        self.supervisors = ["sup-1", "sup-2", "sup-3"]
        for s in self.supervisors:
            self.start(s)
        wait_until("three supervisors", lambda: self.cli("list").stdout.count(" slots)") == 3)

    def env(self, etcd_host="127.0.0.1"):
        env = dict(os.environ)
        env.update({
            "SQUALL__ETCD_ENDPOINTS": f'["http://{etcd_host}:{self.etcd_port}"]',
            "SQUALL__API_TOKEN": TOKEN,
            "SQUALL__SUPERVISOR__WORK_DIR": f"{self.dir}/work",
            "SQUALL__BLOB_STORE": f"{self.dir}/blobs",
        })
        return env

    def start_etcd(self):
        out = open(f"{self.dir}/etcd.log", "ab")
        self.procs["etcd"] = subprocess.Popen(self.etcd_args, stdout=out, stderr=out)

        def listening():
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.etcd_port)) == 0

        wait_until("etcd to listen", listening)

    def start(self, role):
        """Starts daemon `role` (a nimbus, a supervisor or etcd) again with
        the same ports, id, namespace and data."""
        if role == "etcd":
            return self.start_etcd()
        out = open(f"{self.dir}/{role}.log", "ab")
        if role.startswith("nimbus"):
            env = self.env()
            env["SQUALL__NIMBUS__API_ADDR"] = f"127.0.0.1:{self.nimbus_ports[role]}"
            cmd = [self.bin, "nimbus"]
        else:
            i = int(role.split("-")[1]) - 1
            cmd = [self.bin, "supervisor", "--id", role, "--slots", "2"]
            env = self.env()
            if self.hosts:
                env = self.env(self.hosts.gateway)
                env["SQUALL__SUPERVISOR__DATA_HOST"] = self.hosts.addresses[i]
                cmd = ["ip", "netns", "exec", self.hosts.namespace(i), *cmd]
        self.procs[role] = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL)

    def restart_exited(self, at):
        """Starts again every daemon that exited on its own; returns what
        exited, with the last line of its log."""
        exited = []
        for role, p in list(self.procs.items()):
            if p.poll() is None:
                continue
            with open(f"{self.dir}/{role}.log", errors="replace") as f:
                last = (f.read().strip().splitlines() or [""])[-1][:200]
            exited.append(f"{at:7.1f} s  {role} (exit {p.returncode}): {last}")
            log(f"{role} exited on its own (exit {p.returncode}): {last}; starting it again")
            self.start(role)
        return exited

    def pid(self, role):
        """The daemon's own pid (through `ip netns exec`, which execs)."""
        return self.procs[role].pid

    def cli(self, *args):
        return subprocess.run([self.bin, *args], env=self.env(), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=60)

    def status(self):
        try:
            out = self.cli("status", NAME, "--json")
        except subprocess.TimeoutExpired:
            return None
        if out.returncode != 0:
            return None
        try:
            return json.loads(out.stdout).get("status")
        except ValueError:
            return None

    def leader(self):
        for role, port in self.nimbus_ports.items():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=3) as r:
                    if '"role":"leader"' in r.read().decode().replace(" ", ""):
                        return role
            except OSError:
                pass
        return None

    def workers(self):
        """{supervisor: pid} of this topology's running workers, found by the
        assignment file in their command line."""
        found = {}
        prefix = f"{self.dir}/work/"
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    args = f.read().split(b"\0")
            except OSError:
                continue
            for a in args:
                a = a.decode(errors="replace")
                if a.startswith(prefix) and a.endswith(".json") and f"/{NAME}-slot" in a:
                    found[a[len(prefix):].split("/")[0]] = int(entry)
        return found

    def stop_all(self):
        for p in self.procs.values():
            try:
                os.kill(p.pid, signal.SIGCONT)
            except OSError:
                pass
        for w in self.workers().values():
            try:
                os.kill(w, signal.SIGKILL)
            except OSError:
                pass
        # Daemons first, etcd last: a daemon that loses etcd logs errors.
        for role in sorted(self.procs, key=lambda r: r == "etcd"):
            try:
                self.procs[role].kill()
                self.procs[role].wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.hosts:
            self.hosts.remove()


# ---------------------------------------------------------------- observers


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def committed_ids(out_dir):
    """Checkpoint ids of the part files the sink committed
    (`part-<task>-<id>.csv`)."""
    ids = []
    for name in os.listdir(out_dir):
        m = re.fullmatch(r"part-\d+-(\d+)\.csv", name)
        if m:
            ids.append(int(m.group(1)))
    return ids


class Observer(threading.Thread):
    """Samples every 2 s: the RSS of each daemon and worker, the load
    average, the newest committed checkpoint, and (every 10 s) the
    checkpoint folders."""

    def __init__(self, cluster, out_dir, chk_dir):
        super().__init__(daemon=True)
        self.cluster, self.out_dir, self.chk_dir = cluster, out_dir, chk_dir
        self.start_time = time.monotonic()
        self.rss = collections.defaultdict(list)  # role -> [(t, kB)]
        self.load = []
        self.checkpoints = []  # (t, folders, bytes, newest bytes)
        self.committed = []  # (t, newest committed id)
        self.stopped = False
        self.lock = threading.Lock()

    def newest_committed(self):
        ids = committed_ids(self.out_dir)
        return max(ids) if ids else 0

    def run(self):
        tick = 0
        while not self.stopped:
            t = time.monotonic() - self.start_time
            for role, p in list(self.cluster.procs.items()):
                kb = rss_kb(p.pid)
                if kb:
                    self.rss[role].append((t, kb))
            for sup, pid in self.cluster.workers().items():
                kb = rss_kb(pid)
                if kb:
                    self.rss[f"worker@{sup}"].append((t, kb))
            self.load.append((t, os.getloadavg()[0]))
            with self.lock:
                self.committed.append((t, self.newest_committed()))
            if tick % 5 == 0:
                self.sample_checkpoints(t)
            tick += 1
            time.sleep(2)

    def sample_checkpoints(self, t):
        try:
            folders = [f for f in os.listdir(self.chk_dir) if f.startswith("chk-")]
        except OSError:
            return
        sizes = {}
        for f in folders:
            total = 0
            for base, _, files in os.walk(os.path.join(self.chk_dir, f)):
                for name in files:
                    try:
                        total += os.path.getsize(os.path.join(base, name))
                    except OSError:
                        pass
            sizes[f] = total
        newest = max(folders, key=lambda f: int(f[4:]), default=None)
        self.checkpoints.append((t, len(folders), sum(sizes.values()), sizes.get(newest, 0)))


# ---------------------------------------------------------------- faults


FAULTS = ["worker-kill", "worker-stop", "supervisor-kill", "supervisor-stop", "nimbus-kill",
          "etcd-kill", "etcd-stop", "link-cut"]


def inject(kind, cluster, rng):
    """Injects one fault and heals it; returns (target, heal time) or None
    when there is nothing to hit (no worker running, say)."""
    if kind.startswith("worker"):
        workers = cluster.workers()
        if not workers:
            return None
        sup = rng.choice(sorted(workers))
        pid = workers[sup]
        if kind == "worker-kill":
            os.kill(pid, signal.SIGKILL)
            return f"worker@{sup}", time.monotonic()
        os.kill(pid, signal.SIGSTOP)
        time.sleep(rng.uniform(3, 8))
        os.kill(pid, signal.SIGCONT)
        return f"worker@{sup}", time.monotonic()
    if kind.startswith("supervisor"):
        sup = rng.choice(cluster.supervisors)
        if kind == "supervisor-kill":
            cluster.procs[sup].kill()
            cluster.procs[sup].wait()
            time.sleep(rng.uniform(2, 5))
            cluster.start(sup)
        else:
            os.kill(cluster.pid(sup), signal.SIGSTOP)
            time.sleep(rng.uniform(3, 10))
            os.kill(cluster.pid(sup), signal.SIGCONT)
        return sup, time.monotonic()
    if kind == "nimbus-kill":
        leader = cluster.leader()
        if leader is None:
            return None
        cluster.procs[leader].kill()
        cluster.procs[leader].wait()
        time.sleep(3)
        cluster.start(leader)
        return leader, time.monotonic()
    if kind == "etcd-kill":
        cluster.procs["etcd"].kill()
        cluster.procs["etcd"].wait()
        time.sleep(rng.uniform(2, 5))
        cluster.start("etcd")
        return "etcd", time.monotonic()
    if kind == "etcd-stop":
        os.kill(cluster.pid("etcd"), signal.SIGSTOP)
        time.sleep(rng.uniform(3, 8))
        os.kill(cluster.pid("etcd"), signal.SIGCONT)
        return "etcd", time.monotonic()
    if kind == "link-cut":
        i = rng.randrange(3)
        link = cluster.hosts.link(i)
        ip("link", "set", link, "down")
        time.sleep(rng.uniform(3, 8))
        ip("link", "set", link, "up")
        return f"link of sup-{i + 1}", time.monotonic()
    raise ValueError(kind)


# ---------------------------------------------------------------- checks


def check_output(out_dir, expected, exactly_once):
    """Reads every committed part file; returns (ok, message). Exactly once:
    each (word, n) for n in 1..expected[word] once and nothing else; at
    least once: each of those at least once."""
    seen = {w: bytearray(c + 1) for w, c in expected.items()}
    extra, duplicates, rows = collections.Counter(), 0, 0
    for name in sorted(os.listdir(out_dir)):
        if name.startswith(".") or os.path.isdir(os.path.join(out_dir, name)):
            continue
        with open(os.path.join(out_dir, name)) as f:
            for line in f:
                rows += 1
                word, _, n = line.rstrip("\n").rpartition(",")
                word, n = word.strip('"'), int(n)
                marks = seen.get(word)
                if marks is None or n < 1 or n >= len(marks):
                    extra[word] += 1
                    continue
                if marks[n]:
                    duplicates += 1
                marks[n] = 1
    missing = sum(len(m) - 1 - sum(m[1:]) for m in seen.values())
    want = sum(expected.values())
    summary = (f"{rows} rows committed, {want} expected: {missing} missing, "
               f"{duplicates} duplicates, {sum(extra.values())} beyond the reference")
    if exactly_once:
        ok = missing == 0 and duplicates == 0 and not extra
    else:
        ok = missing == 0
    if extra:
        summary += f" (e.g. {list(extra.items())[:3]})"
    return ok, summary


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def report(args, observer, faults, exits, ok, summary, wall, started_load):
    lines = []
    say = lines.append
    mode = "at-least-once" if args.at_least_once else "exactly-once"
    say(f"== Squall chaos soak: {mode}, seed {args.seed}, {wall / 60:.1f} min, "
        f"rate {args.rate} lines/s, netns {'yes' if observer.cluster.hosts else 'no'}, "
        f"etcd compaction {args.etcd_compaction or 'none'}")
    loads = [l for _, l in observer.load]
    say(f"load average (1 min, 2 cores): {started_load:.2f} at start, mean {statistics.mean(loads):.2f}, "
        f"max {max(loads):.2f}" if loads else "load average: no sample")
    say(f"output: {'EXACT' if ok and not args.at_least_once else 'NOTHING LOST' if ok else 'WRONG'}: {summary}")
    restarts = 0
    for name in os.listdir(args.dir):
        if name.startswith("sup-") and name.endswith(".log"):
            with open(os.path.join(args.dir, name), errors="replace") as f:
                restarts += f.read().count("worker died; restarting it")
    say(f"workers restarted by their supervisors: {restarts}")
    say(f"daemons that exited on their own (restarted by the soak, as a process supervisor "
        f"would): {len(exits)}" + "".join(f"\n  {e}" for e in exits))
    say(f"faults injected: {len(faults)}")
    by_kind = collections.defaultdict(list)
    for f in faults:
        by_kind[f["kind"]].append(f)
        rec = f["recovery_s"]
        rec = f"{rec:.1f} s" if isinstance(rec, float) else rec or "NOT RECOVERED"
        say(f"  {f['at_s']:7.1f} s  {f['kind']:<16} {f['target']:<16} recovery {rec}")
    say("recovery (heal -> second checkpoint committed after it), by fault:")
    all_rec = []
    for kind in FAULTS:
        rec = [f["recovery_s"] for f in by_kind.get(kind, []) if isinstance(f["recovery_s"], float)]
        all_rec += rec
        if by_kind.get(kind):
            say(f"  {kind:<16} n={len(by_kind[kind]):<3} p50 {percentile(rec, 50):6.1f} s  "
                f"max {max(rec, default=float('nan')):6.1f} s")
    say(f"  {'all':<16} n={len(faults):<3} p50 {percentile(all_rec, 50):6.1f} s  "
        f"max {max(all_rec, default=float('nan')):6.1f} s")
    say(f"RSS per daemon, MB (peak per {args.bucket_min}-minute bucket); bound: the peak after the "
        f"first bucket stays under 1.5 x the first bucket's peak + 64 MB")
    bucket_s = args.bucket_min * 60
    rss_ok = True
    for role in sorted(observer.rss):
        series = observer.rss[role]
        buckets = collections.OrderedDict()
        for t, kb in series:
            b = int(t // bucket_s)
            buckets[b] = max(buckets.get(b, 0), kb)
        peaks = [kb / 1024 for kb in buckets.values()]
        first, later = peaks[0], max(peaks[1:], default=0)
        bound = 1.5 * first + 64
        held = later <= bound
        rss_ok &= held
        say(f"  {role:<14} {' '.join(f'{p:6.0f}' for p in peaks)}   bound {bound:.0f}: "
            f"{'held' if held else 'EXCEEDED'}")
    say(f"checkpoints (every {args.bucket_min} min: folders kept, total MB, newest MB); "
        f"retained_checkpoints 3")
    max_folders = 0
    for t, folders, total, newest in observer.checkpoints:
        max_folders = max(max_folders, folders)
    shown = {}
    for t, folders, total, newest in observer.checkpoints:
        shown.setdefault(int(t // bucket_s), (t, folders, total, newest))
    for t, folders, total, newest in shown.values():
        say(f"  {t / 60:5.1f} min  {folders:3} folders  {total / 1e6:8.2f} MB  newest {newest / 1e6:7.3f} MB")
    retention = max_folders <= 3 + 3
    say(f"  most folders at once: {max_folders} (3 retained + in flight or aborted): "
        f"{'retention holds' if retention else 'RETENTION BROKEN'}")
    text = "\n".join(lines)
    print(text, flush=True)
    with open(os.path.join(args.dir, "summary.txt"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(args.dir, "summary.json"), "w") as f:
        json.dump({"faults": faults, "rss": observer.rss, "load": observer.load,
                   "checkpoints": observer.checkpoints, "output": summary, "ok": ok}, f)
    return ok and rss_ok and retention


# ---------------------------------------------------------------- main


def topology_yaml(args, lines_file, out_dir, chk_root, limit):
    guarantee = "at_least_once" if args.at_least_once else "exactly_once"
    return f"""name: {NAME}
config:
  guarantee: {guarantee}
  checkpoint_interval_ms: 1000
  checkpoint_dir: "{chk_root}"
  retained_checkpoints: 3
  restart_strategy: {{ type: failure_rate, max_failures_per_interval: 60, failure_rate_interval_ms: 600000, delay_ms: 1000 }}
spouts:
  - id: lines
    type: generator
    parallelism: {args.tasks}
    settings: {{ lines_from: "{lines_file}", limit: {limit}, rate_per_sec: {args.rate} }}
bolts:
  - {{ id: split, type: split_words, parallelism: {args.tasks}, settings: {{ field: line }} }}
  - {{ id: count, type: stateful_count, parallelism: {args.tasks}, settings: {{ fields: [word] }} }}
  - {{ id: sink, type: transactional_file, parallelism: {args.tasks}, settings: {{ path: "{out_dir}" }} }}
streams:
  - {{ from: lines, to: split, grouping: local_or_shuffle }}
  - {{ from: split, to: count, grouping: {{ fields: [word] }} }}
  - {{ from: count, to: sink, grouping: shuffle }}
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30, help="length of the run (default 30)")
    parser.add_argument("--seed", type=int, default=1, help="seeds the input and the faults")
    parser.add_argument("--rate", type=int, default=400, help="generated lines per second")
    parser.add_argument("--tasks", type=int, default=3, help="parallelism of every component")
    parser.add_argument("--fault-every", default="20-60", help="seconds between faults, MIN-MAX")
    parser.add_argument("--at-least-once", action="store_true",
                        help="at_least_once with checkpoints: check nothing is lost")
    parser.add_argument("--no-netns", action="store_true", help="no network namespaces, no link-cut")
    parser.add_argument("--bin", default=os.environ.get("SQUALL_BIN"), help="the squall binary")
    parser.add_argument("--corpus", default=os.path.join(ROOT, "data", "shakespeare"))
    parser.add_argument("--dir", help="work folder (default: a new temporary one, kept)")
    parser.add_argument("--etcd-compaction", metavar="RETENTION",
                        help="start etcd with periodic compaction keeping RETENTION of history "
                             "(e.g. 1m); default: none, as scripts/cluster.sh")
    parser.add_argument("--bucket-min", type=float, default=5, help="minutes per report bucket")
    args = parser.parse_args()
    if not args.bin or not os.access(args.bin, os.X_OK):
        raise SystemExit("soak: no squall binary (--bin or SQUALL_BIN)")
    if shutil.which("etcd") is None:
        raise SystemExit("soak: no etcd on PATH (apt-get install etcd-server)")
    args.dir = args.dir or tempfile.mkdtemp(prefix="squall-soak.")
    os.makedirs(args.dir, exist_ok=True)
    low, high = (float(x) for x in args.fault_every.split("-"))

    lines = corpus_lines(args.corpus, args.seed, 20000)
    lines_file = os.path.join(args.dir, "lines.txt")
    with open(lines_file, "w") as f:
        f.write("\n".join(lines) + "\n")
    # The generator restarts at its checkpointed position at the same rate,
    # so outages lengthen the run: aim at 85 % of the time for the input.
    limit = int(args.rate * args.minutes * 60 * 0.85)
    expected = reference(lines, limit, args.tasks)
    out_dir, chk_root = os.path.join(args.dir, "out"), os.path.join(args.dir, "checkpoints")
    os.makedirs(out_dir, exist_ok=True)
    yaml_file = os.path.join(args.dir, "soak.yaml")
    with open(yaml_file, "w") as f:
        f.write(topology_yaml(args, lines_file, out_dir, chk_root, limit))
    log(f"soak in {args.dir}: {limit} lines ({sum(expected.values())} words, {len(expected)} distinct), "
        f"seed {args.seed}, load {os.getloadavg()[0]:.2f}")

    started_load = os.getloadavg()[0]
    cluster = Cluster(args, args.dir)
    rng = random.Random(args.seed)
    kinds = [k for k in FAULTS if k != "link-cut" or cluster.hosts]
    observer = Observer(cluster, out_dir, os.path.join(chk_root, NAME))
    faults, exits = [], []
    ok, summary = False, "not checked"
    start = time.monotonic()
    try:
        out = cluster.cli("submit", yaml_file, "--workers", "3")
        if out.returncode != 0:
            raise SystemExit(f"soak: submit failed: {out.stderr}")
        observer.start()
        wait_until("the first committed checkpoint", lambda: observer.newest_committed() > 0, 300)
        log("running; first checkpoint committed")
        next_fault = time.monotonic() + rng.uniform(low, high)
        state = None
        while True:
            exits.extend(cluster.restart_exited(time.monotonic() - start))
            status = cluster.status()
            state = status.get("state") if status else state
            if state in ("finished", "failed"):
                break
            if time.monotonic() - start > args.minutes * 60 * 2:
                log("the run took twice its time: stopping")
                break
            if time.monotonic() < next_fault:
                time.sleep(1)
                continue
            kind = rng.choice(kinds)
            at = time.monotonic() - start
            hit = inject(kind, cluster, rng)
            if hit is None:
                next_fault = time.monotonic() + 2
                continue
            target, healed = hit
            with observer.lock:
                before = observer.newest_committed()
            recovered, polls = None, [0]

            def progressed():
                nonlocal recovered
                exits.extend(cluster.restart_exited(time.monotonic() - start))
                if observer.newest_committed() >= before + 2:
                    recovered = time.monotonic() - healed
                    return True
                polls[0] += 1
                if polls[0] % 10:
                    return False  # the status, every 2 s only: it costs a process
                st = cluster.status()
                return bool(st) and st.get("state") in ("finished", "failed")

            try:
                wait_until("recovery", progressed, 300)
            except SystemExit:
                pass
            exits.extend(cluster.restart_exited(time.monotonic() - start))
            faults.append({"kind": kind, "target": target, "at_s": at, "recovery_s": recovered})
            if recovered is None and (cluster.status() or {}).get("state") == "finished":
                faults[-1]["recovery_s"] = "run ended"
            rec = f"{recovered:.1f} s" if recovered is not None else faults[-1]["recovery_s"] or "none"
            log(f"fault {len(faults)}: {kind} on {target}: recovered in {rec}")
            next_fault = time.monotonic() + rng.uniform(low, high)
        log(f"topology {state}")
        if state == "finished":
            ok, summary = check_output(out_dir, expected, not args.at_least_once)
        else:
            summary = f"the topology ended {state}: {status}"
    finally:
        wall = time.monotonic() - start
        observer.stopped = True
        cluster.stop_all()
    passed = report(args, observer, faults, exits, ok, summary, wall, started_load)
    log(f"logs and data in {args.dir}")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
