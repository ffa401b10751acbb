"""The process's heap, for long-running servers with many threads (glibc only; elsewhere these
do nothing).

glibc gives each thread that allocates concurrently an arena of its own, up to 8 per core, and
keeps what is freed in each for reuse. Streamlit runs every script run of every session on a
new thread, so the app's freed photo buffers and model scratch spread over many arenas that
never shrink: measured with ``bench/stack_memory.py`` (20 camera identifications, 2026-12-01),
the app held 1100 MB RSS with glibc's default and 673 MB with two arenas, and taps were not
slower (median 936 ms at load 11 vs 1244 ms at load 15). Setting ``MALLOC_ARENA_MAX`` would need the variable before
the process starts; ``mallopt`` sets the same limit from inside it, for arenas made afterwards.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_ARENA_MAX = -8  # glibc's <malloc.h>


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt  # noqa: B018 - glibc has it, musl does not
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Let at most ``arenas`` malloc arenas exist from now on (call it before the process starts
    its threads). Returns whether the limit was set."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, arenas) == 1)


def release_freed_memory() -> None:
    """Give the heap's free pages back to the system (glibc keeps them otherwise), e.g. after
    loading a model parsed its file into buffers that are now free."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
