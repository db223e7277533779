#!/usr/bin/env python3
# bounded.py OUT ERR CMD...: run CMD with stdout into OUT and stderr into ERR
# (stdin from /dev/null, a 60 s timeout), then print "RC SECONDS PEAK_KIB":
# its exit status (128+N for a signal, 124 on the timeout), its wall time and
# the peak resident memory of the largest process it ran (the command or a
# tool it started), from getrusage(RUSAGE_CHILDREN).
import resource
import subprocess
import sys
import time

out, err, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
t0 = time.monotonic()
with open(out, "wb") as o, open(err, "wb") as e:
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=o, stderr=e, timeout=60)
        rc = p.returncode if p.returncode >= 0 else 128 - p.returncode
    except subprocess.TimeoutExpired:
        rc = 124
secs = time.monotonic() - t0
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"{rc} {secs:.2f} {peak}")
