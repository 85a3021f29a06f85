"""What a worker's render processes may cost: the numbers ``vitae.settings`` reads."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RenderSettings:
    """The render processes of a worker and what one render may cost.

    ``processes``: how many (0: one per CPU). ``timeout``: seconds of compile before the
    process is killed. ``memory_mb``: address-space limit of each process. ``max_pages``:
    longest PDF. ``wait``: seconds a render may wait for a free process before the job is
    retried. A render's wait and compile fit in the job's timeout with time left to store.
    """

    processes: int = 0
    timeout: float = 20.0
    memory_mb: int = 1024
    max_pages: int = 40
    wait: float = 5.0
