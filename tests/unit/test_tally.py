"""system/tally.py: what is tallied and flushed reads, in a scrape, exactly as if each value had
been written to its metric at once (bucket by bucket, sums, counts)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from opengp.system.tally import Tally

BUCKETS = (0.001, 0.01, 0.1, 1.0)
# below the first bound, on each bound (observe() counts a value equal to a bound in it), between
# bounds, above the last
VALUES = (0.0, 0.0005, 0.001, 0.002, 0.01, 0.05, 0.1, 0.5, 1.0, 3.0, 1e9)


def scrape(registry: CollectorRegistry) -> list[str]:
    """The text format's samples, in order, but the times the series were made (which differ
    by construction)."""
    return sorted(line for line in generate_latest(registry).decode().splitlines() if "_created" not in line)


def metrics() -> tuple[CollectorRegistry, Counter, Histogram, Gauge]:
    registry = CollectorRegistry()
    counter = Counter("c", "a counter", ["route", "code"], registry=registry)
    histogram = Histogram("h", "a histogram", ["route"], buckets=BUCKETS, registry=registry)
    gauge = Gauge("g", "a gauge", ["state"], registry=registry)
    return registry, counter, histogram, gauge


def test_tallied_values_read_as_values_written_at_once():
    direct, counter, histogram, gauge = metrics()
    for value in VALUES:
        histogram.labels("gp_job").observe(value)
        counter.labels("gp_job", "200").inc()
        gauge.labels("busy").set(value)
    counter.labels("ogc", "404").inc(2.5)
    counter.labels("gp_events", "200").inc()

    tallied, counter2, histogram2, gauge2 = metrics()
    tally = Tally(every=3600)       # flushed by hand only
    for i, value in enumerate(VALUES):
        if i % 2:
            tally.observe(histogram2, ("gp_job",), value)
            tally.inc(counter2, ("gp_job", "200"))
        else:
            tally.count_and_time(counter2, ("gp_job", "200"), histogram2, ("gp_job",), value)
        tally.set(gauge2, ("busy",), value)     # the last value set is the gauge's
    tally.count_and_time(counter2, ("gp_events", "200"), None, ("gp_events",), 60.0)    # counted, not timed
    tally.inc(counter2, ("ogc", "404"), 2.5)
    assert scrape(tallied) != scrape(direct)     # nothing until the flush
    tally.flush()

    assert scrape(tallied) == scrape(direct)
    tally.flush()       # a flush with nothing new adds nothing
    assert scrape(tallied) == scrape(direct)
