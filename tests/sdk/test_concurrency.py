"""Many threads and asyncio tasks, each in its own context: every event lands on its own customer.

The server derives each reply's token counts from the number in the prompt, and each caller puts its
own number there, so an event attributed to the wrong customer would carry the wrong tokens.
"""

from __future__ import annotations

import asyncio
import threading

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from margin_core.sdk import Tracker
from tests.sdk.llm_fixture_server import JSON, LLMServer, Reply, chat_completion, chat_stream, chat_usage
from tests.sdk.sdk_store import rollup

THREADS, CALLS_PER_THREAD = 8, 12
TASKS, CALLS_PER_TASK = 100, 3


def _tokens_for(body: JSON) -> JSON:
    n = int(body["messages"][0]["content"].split("#")[1])
    return chat_usage(1000 + n, n, cached=n % 7)


def _reply(body: JSON) -> Reply:
    usage = _tokens_for(body)
    return Reply(events=chat_stream(body, usage)) if body.get("stream") else Reply(body=chat_completion(usage))


@pytest.fixture
def server(llm_server: LLMServer) -> LLMServer:
    llm_server.route("/v1/chat/completions", _reply)
    return llm_server


def _expect(n: int, calls: int) -> tuple[int, int, int]:
    return calls, calls * (1000 + n - n % 7), calls * n


def _by_customer(url: str) -> dict[str, tuple[int, int, int]]:
    out: dict[str, tuple[int, int, int]] = {}
    for row in rollup(url):
        requests, inp, output = out.get(row["customer_id"], (0, 0, 0))
        out[row["customer_id"]] = (requests + row["requests"], inp + row["input_tokens"], output + row["output_tokens"])
    return out


def test_threads_keep_their_own_customer(tracker: Tracker, server: LLMServer, db_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)
    with openai.OpenAI(api_key="sk-test", base_url=f"{server.url}/v1", max_retries=0) as raw:
        client = tracker.wrap(raw)  # one client shared by every thread, as an app would

        def worker(n: int) -> None:
            try:
                with tracker.context(customer_id=f"cus_t{n}", feature=f"f{n % 2}"):
                    start.wait()
                    for i in range(CALLS_PER_THREAD):
                        prompt: list[ChatCompletionMessageParam] = [{"role": "user", "content": f"customer #{n}"}]
                        if i % 3 == 0:
                            for _ in client.chat.completions.create(model="gpt-4o", messages=prompt, stream=True):
                                pass
                        else:
                            client.chat.completions.create(model="gpt-4o", messages=prompt)
            except BaseException as exc:  # surfaced below: a failing thread would otherwise pass silently
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors
    assert tracker.flush(20)

    assert _by_customer(db_url) == {f"cus_t{n}": _expect(n, CALLS_PER_THREAD) for n in range(THREADS)}
    features = {(row["customer_id"], row["feature"]) for row in rollup(db_url)}
    assert features == {(f"cus_t{n}", f"f{n % 2}") for n in range(THREADS)}


def test_asyncio_tasks_keep_their_own_customer(tracker: Tracker, server: LLMServer, db_url: str) -> None:
    async def task(client: openai.AsyncOpenAI, n: int) -> None:
        async with tracker.context(customer_id=f"cus_a{n}", feature="async"):
            for i in range(CALLS_PER_TASK):
                prompt: list[ChatCompletionMessageParam] = [{"role": "user", "content": f"customer #{n}"}]
                if (n + i) % 2:
                    stream = await client.chat.completions.create(model="gpt-4o", messages=prompt, stream=True)
                    async for _ in stream:
                        await asyncio.sleep(0)  # yield mid-stream so tasks interleave
                else:
                    await client.chat.completions.create(model="gpt-4o", messages=prompt)

    async def main() -> None:
        raw = openai.AsyncOpenAI(api_key="sk-test", base_url=f"{server.url}/v1", max_retries=0)
        async with tracker.wrap(raw) as client:
            await asyncio.gather(*(task(client, n) for n in range(TASKS)))

    asyncio.run(main())
    assert tracker.flush(20)
    assert _by_customer(db_url) == {f"cus_a{n}": _expect(n, CALLS_PER_TASK) for n in range(TASKS)}
