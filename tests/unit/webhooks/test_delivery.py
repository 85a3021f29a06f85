import ipaddress

import httpx
import pytest

from vitae.netpolicy import Target
from vitae.settings import WebhookSettings
from vitae.webhooks.delivery import HostSlots, call, classify, next_delay, retry_after_seconds


@pytest.mark.parametrize(
    ("status", "succeeded", "retryable"),
    [
        (200, True, False),
        (204, True, False),
        (301, False, False),
        (400, False, False),
        (410, False, False),
        (429, False, True),
        (500, False, True),
        (503, False, True),
    ],
)
def test_only_timeouts_429_and_5xx_are_retried(
    status: int, *, succeeded: bool, retryable: bool
) -> None:
    outcome = classify(status, None)
    assert outcome.succeeded is succeeded
    assert outcome.retryable is retryable


def test_backoff_doubles_is_capped_and_honours_retry_after() -> None:
    settings = WebhookSettings(retry_delay=10, max_delay=60)
    for attempt, base in [(1, 10), (2, 20), (3, 40), (4, 60), (9, 60)]:
        delay = next_delay(settings, attempt, None)
        assert base * 0.8 <= delay <= base * 1.2
    assert next_delay(settings, 1, 45) >= 45
    assert next_delay(settings, 1, 10_000) <= 60 * 1.2
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") is None


def test_each_host_gets_a_bounded_share_of_the_slots() -> None:
    slots = HostSlots(2)
    assert slots.take("a")
    assert slots.take("a")
    assert not slots.take("a")
    assert slots.take("b")
    slots.give_back("a")
    assert slots.take("a")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook\r\nX-Injected: 1",
        "http://127.0.0.1:9/\thook",
        "http://127.0.0.1:9/\x00",
        "gopher://127.0.0.1:9/",
    ],
)
async def test_a_request_that_cannot_be_made_is_a_final_outcome(url: str) -> None:
    # Stored before registration refused such URLs: the attempt records it, never raises.
    target = Target(url=url, host="127.0.0.1", address=ipaddress.ip_address("127.0.0.1"))
    async with httpx.AsyncClient() as client:
        outcome = await call(client, target, {}, b"{}", 2.0)
    assert outcome.error is not None
    assert outcome.error.startswith("could not make the request")
    assert not outcome.retryable
