"""ModelTurns: one model run at a time, and a waiting search goes before the build's next batch."""

import threading
import time

from vistamatch.server.turns import ModelTurns


def test_a_waiting_search_goes_before_the_next_build_batch():
    turns, order = ModelTurns(), []
    in_batch, search_waiting = threading.Event(), threading.Event()

    def build():
        for batch in range(3):
            with turns.background():
                order.append(f"batch {batch}")
                if batch == 0:
                    in_batch.set()
                    search_waiting.wait(10)
                    time.sleep(0.2)  # the search is queued by now

    def search():
        in_batch.wait(10)
        search_waiting.set()
        with turns:
            order.append("search")

    threads = [threading.Thread(target=build), threading.Thread(target=search)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert order == ["batch 0", "search", "batch 1", "batch 2"]


def test_one_run_at_a_time():
    turns, running, most = ModelTurns(), [0], [0]
    lock = threading.Lock()

    def run(ctx):
        for _ in range(50):
            with ctx():
                with lock:
                    running[0] += 1
                    most[0] = max(most[0], running[0])
                time.sleep(0.0005)
                with lock:
                    running[0] -= 1

    threads = [threading.Thread(target=run, args=(lambda: turns,)) for _ in range(3)]
    threads += [threading.Thread(target=run, args=(turns.background,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert most[0] == 1
