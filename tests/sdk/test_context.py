"""`tracker.context`: context manager and decorator, nesting, threads and asyncio tasks."""

from __future__ import annotations

import asyncio
import threading
import time

from margin_core.sdk import Scope, Tracker, current_scope


def test_nested_contexts_merge_and_the_inner_value_wins(tracker: Tracker) -> None:
    with tracker.context(customer_id="cus_outer", feature="search", plan="pro", region="eu"):
        with tracker.context(feature="rerank", region="us", batch=7):
            inner = current_scope()
        outer = current_scope()
    assert inner == Scope("cus_outer", "rerank", "", {"plan": "pro", "region": "us", "batch": "7"})
    assert outer == Scope("cus_outer", "search", "", {"plan": "pro", "region": "eu"})
    assert current_scope() == Scope()


def test_context_is_restored_when_the_body_raises(tracker: Tracker) -> None:
    try:
        with tracker.context(customer_id="cus_1"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert current_scope().customer_id == ""


def test_decorates_sync_and_async_functions(tracker: Tracker) -> None:
    @tracker.context(customer_id="cus_sync", feature="export")
    def sync_job(x: int) -> tuple[int, str, str]:
        """Docstring kept."""
        scope = current_scope()
        return x + 1, scope.customer_id, scope.feature

    @tracker.context(feature="async-feature")
    async def async_job() -> tuple[str, str]:
        await asyncio.sleep(0)
        return current_scope().customer_id, current_scope().feature

    async def run_async() -> tuple[str, str]:
        with tracker.context(customer_id="cus_async"):
            return await async_job()

    assert sync_job(1) == (2, "cus_sync", "export")
    assert sync_job.__doc__ == "Docstring kept."
    assert asyncio.iscoroutinefunction(async_job)
    assert asyncio.run(run_async()) == ("cus_async", "async-feature")
    assert current_scope() == Scope()


def test_each_thread_has_its_own_context(tracker: Tracker) -> None:
    seen: dict[int, str] = {}
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        with tracker.context(customer_id=f"cus_{n}"):
            barrier.wait()  # all eight contexts are open at the same time
            seen[n] = current_scope().customer_id

    with tracker.context(customer_id="cus_main"):
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert current_scope().customer_id == "cus_main"
    assert seen == {n: f"cus_{n}" for n in range(8)}


def test_each_asyncio_task_has_its_own_context(tracker: Tracker) -> None:
    async def task(n: int) -> str:
        async with tracker.context(customer_id=f"cus_{n}"):
            await asyncio.sleep(0.001 * (n % 5))  # interleave the tasks
            return current_scope().customer_id

    async def main() -> list[str]:
        return await asyncio.gather(*(task(n) for n in range(50)))

    assert asyncio.run(main()) == [f"cus_{n}" for n in range(50)]


def test_one_context_object_entered_by_many_threads_at_once(tracker: Tracker) -> None:
    shared = tracker.context(feature="summarize")  # e.g. a module-level constant
    barrier = threading.Barrier(6)
    seen: dict[int, tuple[str, str]] = {}
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with tracker.context(customer_id=f"cus_{n}"):
                with shared:
                    barrier.wait()  # all six inside `shared` before any leaves it
                    scope = current_scope()
                    seen[n] = (scope.customer_id, scope.feature)
                    time.sleep(0.01 * (5 - n))  # leave in the reverse order of entering
                seen[n + 100] = (current_scope().customer_id, current_scope().feature)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not errors
    assert {n: seen[n] for n in range(6)} == {n: (f"cus_{n}", "summarize") for n in range(6)}
    assert {n: seen[n + 100] for n in range(6)} == {n: (f"cus_{n}", "") for n in range(6)}
