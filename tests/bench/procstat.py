"""CPU time and memory of a process tree, read from /proc.

CPU is utime+stime of each process (which already includes all its threads); a tree is
the root pid plus its descendants, so nginx's and HAProxy's workers are counted.
"""
import os
import shutil
import signal
import subprocess

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _children(pid):
  try:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
      return [int(p) for p in f.read().split()]
  except OSError:
    return []


def tree(pid):
  """The pid and all its live descendants."""
  out, todo = [], [pid]
  while todo:
    p = todo.pop()
    if os.path.exists(f"/proc/{p}"):
      out.append(p)
      todo.extend(_children(p))
  return out


def cpu_seconds(pids):
  user, kernel = cpu_split(pids)
  return user + kernel


def cpu_split(pids):
  """(user seconds, kernel seconds) of the processes, all threads included."""
  user = kernel = 0
  for p in pids:
    try:
      with open(f"/proc/{p}/stat") as f:
        # The command name may contain spaces: fields start after the last ')'.
        fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
      continue
    user += int(fields[11])  # utime (field 14)
    kernel += int(fields[12])  # stime (field 15)
  return user / CLK_TCK, kernel / CLK_TCK


def thread_cpu(pid, prefix):
  """{thread name: on-CPU seconds} for the threads of `pid` whose name starts with prefix
  (sidemeter names its workers sm-worker-N)."""
  out = {}
  try:
    tids = os.listdir(f"/proc/{pid}/task")
  except OSError:
    return out
  for t in tids:
    try:
      with open(f"/proc/{pid}/task/{t}/comm") as f:
        name = f.read().strip()
      if not name.startswith(prefix):
        continue
      with open(f"/proc/{pid}/task/{t}/schedstat") as f:
        out[name] = int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
      continue
  return out


def status_kib(pids, key="VmRSS"):
  total = 0
  for p in pids:
    try:
      with open(f"/proc/{p}/status") as f:
        for line in f:
          if line.startswith(key + ":"):
            total += int(line.split()[1])
    except OSError:
      continue
  return total


def sched_seconds(pids):
  """On-CPU time from the scheduler (ns precision), summed over every thread.

  utime+stime advance in clock ticks (10 ms); this one does not, so short runs and small
  differences (measurement on vs off) are resolved better.
  """
  total = 0
  for path in _task_files(pids, "schedstat"):
    try:
      with open(path) as f:
        total += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
      continue
  return total / 1e9


def _task_files(pids, name):
  """/proc/PID/task/TID/<name> of every live thread of the processes."""
  for p in pids:
    try:
      tids = os.listdir(f"/proc/{p}/task")
    except OSError:
      continue
    for t in tids:
      yield f"/proc/{p}/task/{t}/{name}"


def thread_times(pid):
  """{tid: (name, on-CPU ns from schedstat, user s, kernel s)} for every thread of pid."""
  out = {}
  try:
    tids = os.listdir(f"/proc/{pid}/task")
  except OSError:
    return out
  for t in tids:
    try:
      with open(f"/proc/{pid}/task/{t}/comm") as f:
        name = f.read().strip()
      with open(f"/proc/{pid}/task/{t}/schedstat") as f:
        sched = int(f.read().split()[0])
      with open(f"/proc/{pid}/task/{t}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
      out[int(t)] = (name, sched, int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK)
    except (OSError, ValueError, IndexError):
      continue
  return out


def activity(pids):
  """What a process tree asked of the kernel so far, to explain its kernel time:
  {"syscr": read-type system calls, "syscw": write-type ones (/proc/PID/io, whole
  process, ended threads included), "wakeups": voluntary context switches (a thread that
  blocked, in epoll_wait mostly, and was woken again), "preempted": involuntary ones},
  summed over the tree. Missing files count 0 (a process that ended)."""
  out = {"syscr": 0, "syscw": 0, "wakeups": 0, "preempted": 0}
  for p in pids:
    try:
      with open(f"/proc/{p}/io") as f:
        for line in f:
          key, _, value = line.partition(":")
          if key in ("syscr", "syscw"):
            out[key] += int(value)
    except OSError:
      pass
  for path in _task_files(pids, "status"):
    try:
      with open(path) as f:
        for line in f:
          if line.startswith("voluntary_ctxt_switches:"):
            out["wakeups"] += int(line.split()[1])
          elif line.startswith("nonvoluntary_ctxt_switches:"):
            out["preempted"] += int(line.split()[1])
    except (OSError, ValueError, IndexError):
      continue
  return out


def tcp_out_segments():
  """TCP segments sent by the whole machine so far (/proc/net/snmp Tcp OutSegs). On
  loopback every segment of client, proxy and backend is in it: the difference between
  two targets over the same requests is the segments the proxy adds or saves (pure ACKs,
  a head and body sent apart)."""
  with open("/proc/net/snmp") as f:
    rows = [line.split() for line in f if line.startswith("Tcp:")]
  names, values = rows[0], rows[1]
  return int(values[names.index("OutSegs")])


class SyscallCounter:
  """System calls a process tree makes while it is attached: `perf stat` counting the
  raw_syscalls:sys_enter tracepoint in every thread of `pids` (counting only, no
  sampling). Attached once perf has printed its first interval (so nothing before the
  caller's load is missed); stop() returns the count, or None when perf is missing or
  cannot attach. The counter itself costs each system call a little, so CPU is not
  measured while it runs. The intervals also cover the idle moments around the load:
  an idle proxy makes a few system calls a second, against thousands per second under
  load."""

  def __init__(self, pids):
    self.proc = None
    if shutil.which("perf") is None or not pids:
      return
    try:
      self.proc = subprocess.Popen(
          ["perf", "stat", "-x", ",", "-I", "200", "-e", "raw_syscalls:sys_enter",
           "-p", ",".join(str(p) for p in pids)],
          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except OSError:
      self.proc = None
      return
    self.lines = []
    first = self.proc.stderr.readline()  # the first interval: attached
    if not first or "raw_syscalls" not in first:
      self.proc.kill()
      self.proc.wait()
      self.proc = None
      return
    self.lines.append(first)

  def stop(self):
    if self.proc is None:
      return None
    self.proc.send_signal(signal.SIGINT)
    _, rest = self.proc.communicate(timeout=30)
    return perf_syscall_total(self.lines + rest.splitlines())


def perf_syscall_total(lines):
  """The raw_syscalls:sys_enter counts of `perf stat -x , -I` output summed, or None when
  perf could not count ("<not supported>"); "<not counted>" is an interval without any."""
  total = 0
  for line in lines:
    fields = line.strip().split(",")
    # interval,count,unit,event,...
    if len(fields) >= 4 and fields[3] == "raw_syscalls:sys_enter":
      if fields[1] == "<not counted>":
        continue
      try:
        total += int(fields[1])
      except ValueError:
        return None
  return total


# A system call's instruction on x86-64: the user-space IP a sample shows while the call is
# being returned from is the instruction right after it.
SYSCALL_INSN = b"\x0f\x05"
KERNEL_SPACE = 0xffff800000000000


class CpuSampler:
  """Where a process tree's CPU time goes, by sampling: `perf record -e cpu-clock` on every
  thread of `pids` while it is attached. stop() returns perf's output file, or None when
  perf is missing or cannot attach. Sampling costs each interrupted thread a little, so
  CPU is not measured while it runs: the shares it finds are applied to a clean run's
  figures."""

  def __init__(self, pids, path, frequency=2999):
    self.proc, self.path = None, path
    if shutil.which("perf") is None or not pids:
      return
    try:
      self.proc = subprocess.Popen(
          ["perf", "record", "-e", "cpu-clock", "-F", str(frequency), "-o", path,
           "-p", ",".join(str(p) for p in pids)],
          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except OSError:
      self.proc = None

  def stop(self):
    if self.proc is None:
      return None
    self.proc.send_signal(signal.SIGINT)
    _, err = self.proc.communicate(timeout=60)
    return self.path if "Captured and wrote" in err else None


def perf_sample_ips(path):
  """(pid, ip) of every sample in a `perf record` file, via `perf script`."""
  out = subprocess.run(["perf", "script", "-i", path, "-F", "pid,ip"], capture_output=True,
                       text=True, timeout=300)
  samples = []
  for line in out.stdout.splitlines():
    parts = line.split()
    if len(parts) != 2:
      continue
    try:
      samples.append((int(parts[0]), int(parts[1], 16)))
    except ValueError:
      continue
  return samples


def read_process_bytes(pid, address, n):
  """n bytes of a live process's memory (root, or ptrace rights), or None."""
  try:
    with open(f"/proc/{pid}/mem", "rb") as f:
      f.seek(address)
      return f.read(n)
  except (OSError, ValueError, OverflowError):
    return None


def classify_samples(samples, read_bytes=read_process_bytes):
  """Splits CPU samples into kernel, user at a system call's return site (the two bytes
  before the IP are a `syscall` instruction: time a VM that runs its kernel outside ring 0
  charges to user space on the way back from the kernel) and the rest of user space (the
  target's code). User IPs whose bytes cannot be read (the process is gone) are counted
  apart. `read_bytes(pid, address, n)` is called once per distinct (pid, ip)."""
  counts = {}
  for s in samples:
    counts[s] = counts.get(s, 0) + 1
  out = {"samples": len(samples), "kernel": 0, "user": 0, "user_at_syscall_return": 0,
         "user_unreadable": 0}
  for (pid, ip), n in counts.items():
    if ip >= KERNEL_SPACE:
      out["kernel"] += n
      continue
    out["user"] += n
    before = read_bytes(pid, ip - 2, 2) if ip >= 2 else None
    if before is None or len(before) != 2:
      out["user_unreadable"] += n
    elif before == SYSCALL_INSN:
      out["user_at_syscall_return"] += n
  return out
