"""A live event stream batched by time or count, on real time.

A producer thread sends events in bursts with pauses between them. During a
burst, batches fill up to ``count`` and leave at once; after a burst, the
rest leaves ``timespan`` after its first event, never waiting for the next
burst. At the end every event must have arrived exactly once.

    python examples/quickstart.py
"""

from __future__ import annotations

import sys
import threading
import time

from reactivex.subject import Subject

import rxbatch

BURSTS = [250, 40, 7, 180]  # events per burst
PAUSE = 0.3  # seconds between bursts
TIMESPAN, COUNT = 0.1, 100


def main() -> int:
    events: Subject[tuple[int, float]] = Subject()
    batches: list[list[tuple[int, float]]] = []
    done = threading.Event()

    def on_batch(batch: list[tuple[int, float]]) -> None:
        waited = time.monotonic() - batch[0][1]
        reason = "full" if len(batch) == COUNT else "timer"
        print(
            f"batch {len(batches):2d}: {len(batch):3d} events ({reason}), "
            f"first waited {waited * 1000:5.1f} ms"
        )
        batches.append(batch)

    events.pipe(rxbatch.buffer_with_time_or_count(TIMESPAN, COUNT)).subscribe(
        on_batch, on_completed=done.set
    )

    event_id = 0
    for burst in BURSTS:
        for _ in range(burst):
            events.on_next((event_id, time.monotonic()))
            event_id += 1
        time.sleep(PAUSE)  # the pending batch leaves on its timer meanwhile
    events.on_completed()
    done.wait()

    received = [event for batch in batches for event, _ in batch]
    ok = received == list(range(event_id))
    print(
        f"\n{event_id} events sent, {len(received)} received in {len(batches)} batches: "
        f"{'all exactly once, in order' if ok else 'MISMATCH'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
