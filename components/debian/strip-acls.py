#!/usr/bin/env python3
# Remove POSIX ACLs (the system.posix_acl_* xattrs) from a root under
# construction: squashfs cannot store them, and the only ones Debian's
# packages set (systemd's on /var/log/journal) belong to /var, which lives on
# the device's data partition, where systemd-tmpfiles sets them again. The
# API file systems mounted in the chroot (proc, sys, dev) are not entered.
import os
import sys

root = sys.argv[1]
removed = 0
for d, dirs, files in os.walk(root):
    if d == root:
        dirs[:] = [x for x in dirs if x not in ("proc", "sys", "dev", "run")]
    for name in dirs + files:
        p = os.path.join(d, name)
        for a in os.listxattr(p, follow_symlinks=False):
            if a.startswith("system.posix_acl_"):
                os.removexattr(p, a, follow_symlinks=False)
                removed += 1
print("strip-acls: %d ACLs removed" % removed, file=sys.stderr)
