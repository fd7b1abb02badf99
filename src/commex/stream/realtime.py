"""Real-time scheduling for a live relay: a busy machine must not hold its packets.

A relay sleeps most of the time and needs the processor for a millisecond now and then, at
the right moment. Under the normal scheduler a machine busy with other work can keep it
waiting for tens or hundreds of milliseconds (measured: spikes of 100-200 ms on a two-core
machine running other test suites, gone with this), longer than any playout delay worth
having. Round-robin real-time scheduling at a low priority lets it in as soon as it wakes;
the kernel's real-time throttling still leaves the rest of the machine its share. Asking
needs root or CAP_SYS_NICE; without it the relay runs as before. Processes it starts
afterwards (pool workers) inherit the policy.
"""

from __future__ import annotations

import os

PRIORITY = 10  # low among real-time priorities: above every normal process, below the kernel


def request(priority: int = PRIORITY) -> bool:
    """Ask for round-robin real-time scheduling for this process; whether it was granted."""
    if not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(priority))
    except OSError:
        return False
    return True
