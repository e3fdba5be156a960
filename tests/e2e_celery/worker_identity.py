"""``[core] hostname_callable`` of the test's Celery workers.

The two workers share one machine, so ``socket.getfqdn()`` would give both the same name and
``task_instance.hostname`` could not tell which worker ran a task. Each worker process is started
with ``CWGL_E2E_WORKER`` naming it, as a real worker's host name would.
"""

from __future__ import annotations

import os


def hostname() -> str:
    return os.environ["CWGL_E2E_WORKER"]
