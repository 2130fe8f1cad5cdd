"""Meters for the SMTP benchmark: memory/CPU of a process tree, and a Maildir watcher.

Both run in a forked child process (Meter) so they never hold the load generator's GIL.
Memory: the root PIDs and all their descendants are found through /proc/PID/task/TID/children
(a full /proc walk where the kernel lacks it); RSS (statm) and PSS (smaps_rollup) are summed.
Processes that live and die between two samples are not seen. CPU: utime+stime+cutime+cstime
of the tree, so children reaped inside the tree count.
Watcher: inotify IN_CREATE (link) / IN_MOVED_TO (rename) on each new/ directory (polling where
inotify is missing); each new file is read for its X-Bench-Id; the event time and st_ctime are
kept. A directory that does not exist yet is polled until it does.
"""

import ctypes
import multiprocessing
import os
import re
import select
import signal
import struct
import time

PAGE = os.sysconf("SC_PAGE_SIZE")
ID_RE = re.compile(rb"^X-Bench-Id:[ \t]*(\S+)", re.MULTILINE | re.IGNORECASE)


def proc_table():
    """pid -> (ppid, comm) for every process visible in /proc."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        lp, rp = raw.find(b"("), raw.rfind(b")")
        if lp < 0 or rp < 0:
            continue
        fields = raw[rp + 2 :].split()
        try:
            table[int(name)] = (int(fields[1]), raw[lp + 1 : rp].decode(errors="replace"))
        except (IndexError, ValueError):
            continue
    return table


def descendants(roots, table=None):
    table = table if table is not None else proc_table()
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = set(), [r for r in roots if r in table]
    while todo:
        pid = todo.pop()
        if pid in out:
            continue
        out.add(pid)
        todo.extend(children.get(pid, ()))
    return out, table



def cpu_ticks(pid):
    """utime+stime+cutime+cstime of one process, in clock ticks (reaped children included)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
        return sum(int(x) for x in raw[raw.rfind(b")") + 2 :].split()[11:15])
    except (OSError, ValueError):
        return 0


def tree(roots):
    """pid -> comm for the roots and all their descendants (via /proc/PID/task/TID/children)."""
    out, todo = {}, list(roots)
    while todo:
        pid = todo.pop()
        if pid in out:
            continue
        try:
            with open(f"/proc/{pid}/comm", "rb") as f:
                out[pid] = f.read().strip().decode(errors="replace")
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue  # gone meanwhile
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                    todo.extend(int(c) for c in f.read().split())
            except FileNotFoundError:
                continue
            except OSError:
                return slow_tree(roots)  # kernel without CONFIG_PROC_CHILDREN
    return out


def slow_tree(roots):
    pids, table = descendants(roots)
    return {p: table[p][1] for p in pids}


class Meter:
    """A measuring loop in a forked child process, so it never holds the load generator's GIL."""

    def __init__(self, target, *args):
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=meter_child, args=(self.conn, child, target, args), daemon=True)
        self.proc.start()
        child.close()

    def ask(self, msg, timeout=30.0):
        self.conn.send(msg)
        if not self.conn.poll(timeout):
            raise RuntimeError(f"meter did not answer {msg!r}")
        return self.conn.recv()

    def stop(self):
        result = self.ask("stop")
        self.proc.join(10)
        return result


def meter_child(parent_end, conn, target, args):
    """Child side: drop the parent's end (so the parent's death reads as EOF), then measure."""
    parent_end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    try:
        target(conn, *args)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass  # the load generator is gone: nothing left to report to


def sampler_main(conn, roots, interval):
    """Samples RSS/PSS of roots and descendants every `interval` s until told to stop."""
    peak = {"samples": 0, "peak_rss_total": 0, "peak_pss_total": 0, "peak_procs": 0}
    by_prog = {}
    cpu = []

    def sample():
        procs = tree(roots)
        rss_total = pss_total = 0
        cpu.append(sum(cpu_ticks(pid) for pid in procs))
        for pid, comm in procs.items():
            rss = read_rss(pid)
            if rss is None:
                continue
            rss_total += rss
            pss_total += read_pss(pid) or 0
            by_prog[comm] = max(by_prog.get(comm, 0), rss)
        peak["samples"] += 1
        peak["peak_rss_total"] = max(peak["peak_rss_total"], rss_total)
        peak["peak_pss_total"] = max(peak["peak_pss_total"], pss_total)
        peak["peak_procs"] = max(peak["peak_procs"], len(procs))

    while True:
        sample()
        if conn.poll(interval) and conn.recv() == "stop":
            sample()
            peak["cpu_secs"] = (cpu[-1] - cpu[0]) / os.sysconf("SC_CLK_TCK")
            conn.send(dict(peak, peak_rss_by_program=dict(sorted(by_prog.items()))))
            return


def read_rss(pid):
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return None


def read_pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return None


class Inotify:
    """Minimal inotify through ctypes: IN_CREATE (link) and IN_MOVED_TO (rename) in directories."""

    IN_MOVED_TO, IN_CREATE, IN_Q_OVERFLOW = 0x80, 0x100, 0x4000

    def __init__(self):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.dirs = {}

    def watch(self, d):
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(d), self.IN_CREATE | self.IN_MOVED_TO)
        if wd < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {d}")
        self.dirs[wd] = d

    def read(self):
        """[(dir or None on overflow, name)] of the events waiting now."""
        events = []
        while True:
            try:
                buf = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return events
            off = 0
            while off + 16 <= len(buf):
                wd, mask, _cookie, n = struct.unpack_from("iIII", buf, off)
                name = buf[off + 16 : off + 16 + n].rstrip(b"\0")
                off += 16 + n
                if mask & self.IN_Q_OVERFLOW:
                    events.append((None, ""))
                elif wd in self.dirs and name:
                    events.append((self.dirs[wd], os.fsdecode(name)))


def watcher_main(conn, dirs, read_ids, poll):
    """Records each new file in the new/ dirs: event time, ctime, X-Bench-Id; answers count/stop."""
    st = {"found": {}, "dups": 0, "files": 0, "unmatched": 0, "last": 0.0, "inotify": True}
    known = set()
    try:
        ino = Inotify()
    except (OSError, AttributeError):
        ino, st["inotify"] = None, False
    pending = list(dirs)

    def take(d, name, t):
        if (d, name) in known:
            return
        path = os.path.join(d, name)
        try:
            ctime = os.stat(path).st_ctime_ns / 1e9
            head = b""
            if read_ids:
                with open(path, "rb") as f:
                    head = f.read(16384)
        except FileNotFoundError:
            return  # moved on already; its new name is seen in turn
        known.add((d, name))
        st["files"] += 1
        st["last"] = max(st["last"], t)
        if not read_ids:
            return
        m = ID_RE.search(head)
        if not m:
            st["unmatched"] += 1
        elif m.group(1).decode() in st["found"]:
            st["dups"] += 1
        else:
            st["found"][m.group(1).decode()] = (t, ctime)

    def scan(d, t):
        for name in listdir(d):
            take(d, name, t)

    def arm(first):
        for d in list(pending):
            if not os.path.isdir(d):
                continue
            if ino:
                ino.watch(d)  # watch first, then scan: nothing slips between the two
            pending.remove(d)
            if first:
                known.update((d, n) for n in listdir(d))  # there before the run: not ours
            else:
                scan(d, time.time())

    arm(True)
    while True:
        fds = [conn] + ([ino.fd] if ino else [])
        ready, _, _ = select.select(fds, [], [], poll if pending or not ino else 0.5)
        if ino and ino.fd in ready:
            t = time.time()
            for d, name in ino.read():
                if d is None:
                    for dd in dirs:
                        scan(dd, t)
                else:
                    take(d, name, t)
        if pending:
            arm(False)
        if not ino:
            t = time.time()
            for d in dirs:
                scan(d, t)
        if conn in ready:
            msg = conn.recv()
            if msg == "count":
                conn.send(len(st["found"]) if read_ids else st["files"])
            elif msg == "stop":
                for d in dirs:
                    scan(d, time.time())
                conn.send(st)
                return


def listdir(d):
    try:
        return os.listdir(d)
    except (FileNotFoundError, NotADirectoryError):
        return []


def wait_delivered(watcher, want, timeout):
    deadline = time.monotonic() + timeout
    while watcher.ask("count") < want and time.monotonic() < deadline:
        time.sleep(0.05)
