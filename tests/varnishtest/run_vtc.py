#!/usr/bin/env python3
"""Runs the .vtc scripts of this directory against the real sidemeter binary.

    run_vtc.py SIDEMETER_BIN FILE.vtc...

varnishtest (Debian's `varnish` package; no varnishd is started) plays the clients and the
upstream. Each .vtc starts its own server s1 (a port varnishtest picks), then sidemeter
with `process`, pointed at s1, and its clients connect to sidemeter. A .vtc cannot learn
a port at run time (its macros are fixed when it starts), so sidemeter's listening port
is reserved here instead of being written down: a socket bound to 127.0.0.1:0 with
SO_REUSEADDR and SO_REUSEPORT, never listening, holds the port the kernel chose while the
.vtc runs (no other program can bind it, and it is never handed out as ephemeral), and
sidemeter, which sets both options on its listeners, binds it as ${sm_port}. Macros given
to every .vtc:

    ${sm_bin}     the sidemeter binary
    ${sm_port}    the port reserved for sidemeter's listener
    ${sm_config}  sidemeter_config.sh: writes a config (FILE PORT UPSTREAM [YAML_LINE...])
    ${sm_wait}    sidemeter_wait.sh: waits until sidemeter listens and reached its upstream

Exit status: 0 when every .vtc passed, 1 when any failed (its log is printed), 77 (skip,
for meson) when varnishtest is not installed.
"""
import os
import shutil
import socket
import subprocess
import sys


def reserve_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", 0))
    return s


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    varnishtest = shutil.which("varnishtest")
    if varnishtest is None:
        print("varnishtest not found (Debian package varnish): skipped", file=sys.stderr)
        return 77
    here = os.path.dirname(os.path.abspath(__file__))
    # $SIDEMETER_BIN wins: the sanitizer passes run this suite against their own binary.
    sidemeter = os.path.abspath(os.environ.get("SIDEMETER_BIN") or argv[1])
    failed = []
    for vtc in argv[2:]:
        reserved = reserve_port()
        try:
            port = reserved.getsockname()[1]
            cmd = [
                varnishtest, "-q", "-l", "-t", "120",
                "-D", "sm_bin=" + sidemeter,
                "-D", "sm_port=%d" % port,
                "-D", "sm_config=" + os.path.join(here, "sidemeter_config.sh"),
                "-D", "sm_wait=" + os.path.join(here, "sidemeter_wait.sh"),
                vtc,
            ]
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=180, check=False)
        finally:
            reserved.close()
        name = os.path.basename(vtc)
        if r.returncode == 0:
            print("PASS", name)
        else:
            failed.append(name)
            print("FAIL", name, "(varnishtest exit %d)" % r.returncode)
            sys.stdout.write(r.stdout.decode("utf-8", "replace"))
    print("%d of %d .vtc passed" % (len(argv) - 2 - len(failed), len(argv) - 2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
