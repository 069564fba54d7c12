"""Which CPU memory allocator jobs run with.

glibc's malloc hands every large freed block back to the kernel and maps fresh zeroed pages for
the next, so PyTorch on a CPU spends much of its time page-faulting; PyTorch's CPU tuning guide
recommends tcmalloc or jemalloc instead (benchmarks/README.md: 17 % faster SBM training steps on
the synthetic default, 1.2-2.5x per block at 4k-64k neurons). They are preloaded when installed
(Debian: libtcmalloc-minimal4, libjemalloc2); nothing changes where they are not.
"""

import os

LIBRARIES = {"tcmalloc": "libtcmalloc_minimal.so.4", "jemalloc": "libjemalloc.so.2"}
FOLDERS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib")


def find_allocator(name: str) -> str | None:
    """Path of the named allocator's shared library, or None ("system", or not installed)."""
    if name == "system":
        return None
    for folder in FOLDERS:
        path = os.path.join(folder, LIBRARIES[name])
        if os.path.exists(path):
            return path
    return None
