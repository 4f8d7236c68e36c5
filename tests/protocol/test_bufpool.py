"""The encode buffer pool: reuse, exclusivity, bounded retention."""

from __future__ import annotations

import threading

import pytest

from agent.protocol import BufferPool, decode_checkin_request, encode_checkin_request

from .conftest import SAMPLES, compact


def _request() -> object:
    return decode_checkin_request(compact(SAMPLES / "checkin_request.json"))


def test_encode_output_equals_plain_encoding() -> None:
    pool = BufferPool()
    req = _request()
    with pool.encode(req) as body:
        assert bytes(body) == compact(SAMPLES / "checkin_request.json")
        assert body.readonly


def test_steady_loop_reuses_one_buffer() -> None:
    pool = BufferPool()
    req = _request()
    seen: set[int] = set()
    for _ in range(50):
        with pool.lend() as buf:
            seen.add(id(buf))
        with pool.encode(req) as body:
            assert len(body) == 1898
    assert len(seen) == 1
    assert pool.created == 1
    assert pool.reused == 99
    assert pool.lent_count == 0 and pool.free_count == 1


def test_buffer_never_lent_twice_at_once() -> None:
    pool = BufferPool(max_free=8)
    with pool.lend() as a, pool.lend() as b, pool.lend() as c:
        assert len({id(a), id(b), id(c)}) == 3
        assert pool.lent_count == 3
    assert pool.free_count == 3
    # returned buffers come back, still one holder each
    with pool.lend() as a, pool.lend() as b:
        assert a is not b
    assert pool.created == 3


def test_nested_encodes_use_distinct_buffers() -> None:
    pool = BufferPool()
    req = _request()
    with pool.encode(req) as first, pool.encode({"x": 1}) as second:
        assert bytes(second) == b'{"x":1}'
        assert bytes(first) == compact(SAMPLES / "checkin_request.json")


def test_release_of_foreign_or_double_release_raises() -> None:
    pool = BufferPool()
    with pytest.raises(RuntimeError):
        pool.release(bytearray(10))
    buf = pool.acquire()
    pool.release(buf)
    with pytest.raises(RuntimeError):
        pool.release(buf)


def test_oversized_buffers_are_not_retained() -> None:
    pool = BufferPool(max_retained=4096)
    with pool.encode({"blob": "x" * 100_000}) as body:
        assert len(body) > 100_000
    assert pool.free_count == 0 and pool.dropped == 1
    with pool.encode({"small": 1}):
        pass
    assert pool.free_count == 1


def test_pool_keeps_at_most_max_free() -> None:
    pool = BufferPool(max_free=2)
    bufs = [pool.acquire() for _ in range(5)]
    for b in bufs:
        pool.release(b)
    assert pool.free_count == 2 and pool.dropped == 3


def test_buffer_with_live_view_is_not_reused() -> None:
    pool = BufferPool()
    with pool.lend() as buf:
        buf[:] = b"abc"
        leaked = memoryview(buf)  # a caller kept a view beyond the loan
    assert pool.free_count == 0 and pool.dropped == 1
    leaked.release()


def test_view_is_released_after_encode_block() -> None:
    pool = BufferPool()
    with pool.encode({"a": 1}) as body:
        pass
    with pytest.raises(ValueError):
        bytes(body)  # released view
    assert pool.free_count == 1


def test_threads_never_share_a_buffer() -> None:
    pool = BufferPool(max_free=4)
    holders: dict[int, int] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        for _ in range(200):
            with pool.lend() as buf:
                with lock:
                    if id(buf) in holders:
                        errors.append("shared")
                    holders[id(buf)] = n
                buf[:] = bytes([n]) * 64
                assert buf == bytes([n]) * 64
                with lock:
                    del holders[id(buf)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert pool.lent_count == 0


def test_encode_matches_encode_function_for_large_request() -> None:
    req = decode_checkin_request(compact(SAMPLES / "checkin_request_large.json"))
    pool = BufferPool()
    with pool.encode(req) as body:
        assert bytes(body) == encode_checkin_request(req)
