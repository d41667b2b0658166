"""A scrape's text (system/metrics.py ``exposition``) outside multiprocess mode (an app built in
a test, or a process without a metrics directory): scrapes at once each get every metric."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client.core import GaugeMetricFamily

from opengp.system import metrics


class SlowGauges:
    """A scrape-time collector that takes a while, as one reading the job store does."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        time.sleep(0.2)
        yield GaugeMetricFamily("opengp_test_slow", "A gauge read slowly.", value=1)


def test_two_scrapes_at_once_both_answer_with_every_metric(monkeypatch):
    monkeypatch.delenv(metrics.ENV, raising=False)
    assert not metrics.multiprocess()
    answers: list[bytes] = []
    errors: list[Exception] = []

    def scrape() -> None:
        try:
            answers.append(metrics.exposition(SlowGauges()))
        except Exception as exc:        # "Duplicated timeseries": the second scrape failed (a 503)
            errors.append(exc)

    threads = [threading.Thread(target=scrape) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == [] and len(answers) == 2
    for text in answers:
        assert b"opengp_test_slow 1.0" in text and b"# TYPE opengp_http_requests_total counter" in text
    # and nothing of a scrape's is left behind in the process's registry
    assert b"opengp_test_slow" not in metrics.exposition()


@pytest.fixture(autouse=True)
def _labels() -> None:
    metrics.ready_labels()
