"""`BrokerQueue` (the service side) against the machine's real RabbitMQ: depth, back-pressure and
one-line errors. The worker side is in test_workers.py."""

from __future__ import annotations

import pika
import pytest

from api.jobs import QueueFull, get_queue
from api.jobs.broker import BrokerQueue, job_settings
from models.errors import InputError
from tests.api.jobs.conftest import wait_for


@pytest.fixture
def queue(broker_url, queue_name):
    q = BrokerQueue(broker_url=broker_url, queue_name=queue_name, max_depth=5)
    yield q
    q.close()


def test_depth_counts_waiting_jobs_and_submit_raises_queue_full_at_the_limit(queue):
    assert queue.depth() == 0 and queue.workers() == 0
    for i in range(5):
        queue.submit(f"insp-{i}")
        assert queue.depth() == i + 1
    with pytest.raises(QueueFull) as err:
        queue.submit("insp-5")
    assert (err.value.depth, err.value.limit) == (5, 5)
    assert err.value.retry_after_s == 30  # no worker attached: the backlog will not drain soon
    assert queue.depth() == 5  # the refused job was not enqueued
    queue.purge()
    assert queue.depth() == 0
    queue.submit("insp-6")
    assert queue.depth() == 1


def test_queue_full_asks_for_a_shorter_wait_while_workers_consume(broker_url, queue):
    # A real consumer that takes one job and holds it unacknowledged (as a busy worker does).
    conn = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        ch = conn.channel()
        ch.basic_qos(prefetch_count=1)
        got = []
        ch.basic_consume(queue.queue_name, lambda c, m, p, b: got.append(m.delivery_tag))
        for i in range(6):
            queue.submit(f"j{i}")
        conn.process_data_events(time_limit=1.0)
        assert len(got) == 1 and queue.workers() == 1
        assert queue.depth() == 5  # the job in progress is not waiting
        with pytest.raises(QueueFull) as err:
            queue.submit("j6")
        assert err.value.retry_after_s == 5
    finally:
        conn.close()  # the unacknowledged job goes back to the queue: acks late
    wait_for(lambda: queue.depth() == 6, timeout_s=5, what="the unacked job to return to the queue")


def test_messages_survive_the_submitter_closing(broker_url, queue_name):
    a = BrokerQueue(broker_url=broker_url, queue_name=queue_name)
    a.submit("kept")
    a.close()
    b = BrokerQueue(broker_url=broker_url, queue_name=queue_name)
    try:
        assert b.depth() == 1
    finally:
        b.close()


def test_get_queue_selects_the_broker_when_broker_url_is_set(broker_url, queue_name, monkeypatch):
    from api.settings import Settings

    monkeypatch.setenv("POGOSCOPE_QUEUE_NAME", queue_name)
    q = get_queue(Settings(broker_url=broker_url, queue_max_depth=7))
    try:
        assert isinstance(q, BrokerQueue) and q.limit == 7 and q.queue_name == queue_name
    finally:
        q.close()


@pytest.mark.parametrize("url, match", [
    ("redis://127.0.0.1:6379/0", "scheme 'redis' is not supported"),
    ("", "no broker URL"),
])
def test_bad_broker_urls_are_one_line(url, match):
    with pytest.raises(InputError, match=match):
        BrokerQueue(broker_url=url or None)


def test_unreachable_broker_and_wrong_password_are_one_line(broker_url):
    with pytest.raises(InputError, match=r"cannot reach the broker at amqp://127.0.0.1:1/ \(connection refused\)"):
        BrokerQueue(broker_url="amqp://guest:guest@127.0.0.1:1/")
    with pytest.raises(InputError, match="login refused") as err:
        BrokerQueue(broker_url="amqp://guest:not-the-password@127.0.0.1:5672/")
    assert "not-the-password" not in str(err.value)


def test_a_foreign_queue_of_the_same_name_is_a_clear_error(broker_url, queue_name):
    conn = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        conn.channel().queue_declare(queue_name, durable=True)  # classic queue, other arguments
        with pytest.raises(InputError, match="exists with other arguments"):
            BrokerQueue(broker_url=broker_url, queue_name=queue_name)
    finally:
        conn.close()


def test_service_settings_take_precedence(monkeypatch):
    from api.settings import Settings

    monkeypatch.setenv("POGOSCOPE_QUEUE_MAX_DEPTH", "3")
    monkeypatch.setenv("POGOSCOPE_JOB_MAX_RETRIES", "4")
    js = job_settings(Settings(broker_url="amqp://h/", queue_max_depth=9, store_dir="/srv/img"))
    assert (js.broker_url, js.queue_max_depth, js.job_max_retries, js.store_url) == ("amqp://h/", 9, 4, "/srv/img")
