"""One contract suite for every Store backend: memory, SQLite and PostgreSQL.

Every protocol of ``store/base.py`` (JobStore, ClaimStore, Housekeeping) runs here on each
backend the ``each_store`` fixture yields, and the errors they raise are pinned: the same
type on every backend."""
from __future__ import annotations

import inspect
import threading
import time

import pytest

from opengp.core import Conflict, Job, Kind, Level, Message, Progress, Status, StoreError
from opengp.core.status import TRANSITIONS, IllegalMove
from opengp.store import ClaimStore, Housekeeping, JobQuery, JobStore, Store
from opengp.store.sql import SqlStore


@pytest.fixture
def store(each_store):
    return each_store


@pytest.fixture
def job_factory(store):
    def make(service="Demo/Tools", task="Echo", owner=None, status=Status.SUBMITTED, created=None,
             cancel_requested=False, **kw):
        job = Job.new(service, task, {"text": "hi"}, owner=owner, **kw).evolve(status=status,
                                                                               cancel_requested=cancel_requested)
        if created is not None:
            job = job.evolve(created=created)
        store.create(job)
        return job
    return make


def test_create_then_get_round_trips_every_field(store, job_factory):
    job = job_factory(owner="ann", options={"out_sr": {"wkid": 3857}}, retention=60)
    got = store.get(job.id)
    assert got == job
    assert store.get("jnope") is None


# -- the protocols, and the errors every backend raises alike ---------------------------------

PROTOCOLS = (JobStore, ClaimStore, Housekeeping)


def _methods(protocol: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(member) for name, member in vars(protocol).items()
            if callable(member) and not name.startswith("_")}


def test_each_protocol_is_narrow_and_the_store_is_their_union():
    """Habit 1: a seam of about ten methods.  ``Store`` adds nothing of its own, so a module
    that needs one concern can take that protocol."""
    for protocol in PROTOCOLS:
        assert 0 < len(_methods(protocol)) <= 10, (protocol.__name__, sorted(_methods(protocol)))
    assert Store.__bases__[:len(PROTOCOLS)] == PROTOCOLS and _methods(Store) == {}
    names = [name for protocol in PROTOCOLS for name in _methods(protocol)]
    assert len(names) == len(set(names))        # each method belongs to one concern


def test_every_backend_has_every_method_of_every_protocol(store):
    for protocol in PROTOCOLS:
        for name, wanted in _methods(protocol).items():
            got = inspect.signature(getattr(store, name))
            assert list(got.parameters) == list(wanted.parameters)[1:], (type(store).__name__, name)
    assert isinstance(store.local, bool)


def test_a_taken_id_is_a_conflict_on_every_backend(store, job_factory):
    """A duplicate is the caller's to answer (Conflict), not a failing store (StoreError):
    with large inputs too (their rows are written in the same transaction)."""
    job = job_factory()
    with pytest.raises(Conflict, match=job.id):
        store.create(job.evolve(task="Other"))
    big = Job.new("Demo/Tools", "Echo", {"big": {"features": [{"i": i} for i in range(1000)]}}).evolve(
        status=Status.SUBMITTED)
    store.create(big)
    with pytest.raises(Conflict, match=big.id):
        store.create(big)
    assert store.get(job.id).task == "Echo" and list(store.values(big.id, "input")) == ["big"]    # kept as it was


def test_a_field_that_is_no_job_attribute_is_a_type_error_on_every_backend(store, job_factory):
    """A misspelt field is a caller's bug: refused before anything is written, whether or not
    the job exists or is in a source state (SQLite used to call it unavailable, a retry)."""
    job = job_factory()
    for job_id in (job.id, "jnope"):
        for src in ([Status.SUBMITTED], [Status.EXECUTING]):
            with pytest.raises(TypeError, match="bogus"):
                store.transition(job_id, src, Status.CANCELLED, bogus=1)
    assert store.get(job.id) == job


def test_a_missing_job_is_no_error_on_every_backend(store):
    """Unknown ids answer alike everywhere: nothing moved, nothing claimed, nothing deleted."""
    assert store.get("jnope") is None and store.peek("jnope") is None
    assert store.transition("jnope", [Status.SUBMITTED], Status.CANCELLED) is None
    assert store.report("jnope", [Message(time.time(), Level.INFO, "hi")], Progress(5)) is None
    assert store.delete("jnope") is False
    assert store.values("jnope", "result") == {}
    assert store.claim("jnope", "w1") is None
    assert store.heartbeat("jnope", "w1") is True       # "stop": the worker holds no such job
    assert store.dismissed("jnope") == (False, None)
    assert store.get("jnope") is None
    # an id no job can have (PostgreSQL text holds no NUL: a client's junk id must not fail the read)
    assert store.get("j\x00nope") is None and store.peek("j\x00nope") is None
    assert store.dismissed("j\x00nope") == (False, None) and store.delete("j\x00nope") is False


def test_every_backend_refuses_a_move_the_transition_table_does_not_allow(store, job_factory):
    """core/status.TRANSITIONS is the one statement of what may happen to a job: a store asked
    for anything else (a caller's bug) raises, whatever state the job is in, and changes nothing."""
    job = job_factory()
    for src in Status:
        for dst in Status:
            if src is dst or dst in TRANSITIONS[src]:
                continue
            allowed = [s for s in Status if dst in TRANSITIONS[s]]
            for sources in ([src], [*allowed, src]):      # one bad source among good ones is enough
                with pytest.raises(IllegalMove):
                    store.transition(job.id, sources, dst)
    with pytest.raises(IllegalMove):        # a write that keeps a status is never mixed with moves to it
        store.transition(job.id, [Status.EXECUTING, Status.SUCCEEDED], Status.SUCCEEDED)
    assert store.get(job.id).status is Status.SUBMITTED and store.get(job.id).updated == job.updated


def test_claim_is_compare_and_set(store, job_factory):
    job = job_factory()
    first = store.claim(job.id, "w1")
    assert first.status is Status.EXECUTING and first.worker == "w1" and first.attempts == 1
    assert first.started is not None and first.heartbeat is not None
    assert store.claim(job.id, "w2") is None


def test_concurrent_claims_have_exactly_one_winner(store, job_factory):
    job = job_factory()
    wins = []
    threads = [threading.Thread(target=lambda n=n: wins.append(store.claim(job.id, f"w{n}"))) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([w for w in wins if w is not None]) == 1


def test_transition_only_from_the_named_states_and_appends_messages(store, job_factory):
    job = job_factory()
    assert store.transition(job.id, [Status.EXECUTING], Status.SUCCEEDED) is None
    store.claim(job.id, "w1")
    done = store.transition(job.id, [Status.EXECUTING], Status.SUCCEEDED, results={"r": {"value": 1}},
                            finished=time.time(), messages=[Message.now("info", "done")])
    assert done.status is Status.SUCCEEDED and done.results == {"r": {"value": 1}}
    assert [m.text for m in store.get(job.id).messages] == ["done"]
    assert store.transition(job.id, [Status.EXECUTING], Status.FAILED) is None


def test_a_transition_guarded_by_the_worker_leaves_a_job_claimed_again_alone(store, job_factory):
    """Settling a lost worker's job must not end the run of the worker that claimed it since."""
    job = job_factory()
    store.claim(job.id, "w1")
    assert store.transition(job.id, [Status.EXECUTING], Status.SUBMITTED, if_worker="w1") is not None
    store.claim(job.id, "w2")
    assert store.transition(job.id, [Status.EXECUTING], Status.FAILED, if_worker="w1") is None
    assert store.get(job.id).status is Status.EXECUTING and store.get(job.id).worker == "w2"
    assert store.transition(job.id, [Status.EXECUTING], Status.FAILED, if_worker="w2").status is Status.FAILED


def test_report_appends_and_never_touches_a_finished_job(store, job_factory):
    job = job_factory()
    store.report(job.id, [Message.now("info", "a")], Progress(10, "one"))
    store.report(job.id, [Message.now("warning", "b")])
    got = store.get(job.id)
    assert [m.text for m in got.messages] == ["a", "b"] and got.progress.percent == 10
    store.transition(job.id, [Status.SUBMITTED], Status.CANCELLED)
    store.report(job.id, [Message.now("info", "late")])
    assert [m.text for m in store.get(job.id).messages] == ["a", "b"]


def test_query_filters_pages_and_counts(store, job_factory):
    base = time.time() - 100
    for i in range(5):
        job_factory(owner="ann", created=base + i)
    for i in range(3):
        job_factory(owner="bob", service="Other", created=base + 10 + i, status=Status.FAILED)
    total, page = store.query(JobQuery(owner="ann", limit=2))
    assert total == 5 and len(page) == 2 and page[0].created > page[1].created
    total, page = store.query(JobQuery(statuses=frozenset({Status.FAILED})))
    assert total == 3 and {j.owner for j in page} == {"bob"}
    total, page = store.query(JobQuery(created_after=base + 2, created_before=base + 11, limit=None, oldest_first=True))
    assert [j.created for j in page] == [base + 2, base + 3, base + 4, base + 10, base + 11]
    total, page = store.query(JobQuery(service="Demo/Tools", offset=4, limit=10))
    assert total == 5 and len(page) == 1


def test_query_by_machine_matches_the_host_of_the_worker(store, job_factory):
    """machineName (ArcGIS's jobs/query) is the host part of ``worker`` ("host:pid"), any case."""
    ran = {}
    for host in ("gis-a", "gis-a", "gis_b", "GIS%c"):
        job = job_factory()
        store.claim(job.id, f"{host}:{len(ran) + 100}")
        ran[job.id] = host
    job_factory()                                   # never ran: no machine
    total, page = store.query(JobQuery(machine="GIS-A", limit=None))
    assert total == 2 and {ran[j.id] for j in page} == {"gis-a"}
    assert store.query(JobQuery(machine="gis_b", limit=None))[0] == 1        # "_" is not a wildcard
    assert store.query(JobQuery(machine="gis%", limit=None))[0] == 0         # nor is "%"
    assert store.query(JobQuery(machine="gis", limit=None))[0] == 0
    assert store.query(JobQuery(machine="gis-a", statuses=frozenset({Status.EXECUTING}), limit=1))[0] == 2


def test_query_by_user_name_ignores_case_and_owner_stays_exact(store, job_factory):
    """``user_name`` (ArcGIS's jobs/query userName): user names are case-insensitive, so Alice's
    jobs are found as alice or ALICE, finished ones through the count tables too; ``owner``
    (who may see a job) stays exact."""
    alice = [job_factory(owner="Alice"), job_factory(owner="alice"), job_factory(owner="ALICE")]
    for job in alice[:2]:
        store.claim(job.id, "w:1")
        store.transition(job.id, [Status.EXECUTING], Status.SUCCEEDED, finished=time.time())
    others = [job_factory(owner=name) for name in ("bob", "alicia", "malice", None)]
    store.claim(others[0].id, "w:1")
    store.transition(others[0].id, [Status.EXECUTING], Status.SUCCEEDED, finished=time.time())
    _fold(store)
    job_factory(owner="aLiCe", service="Other")
    ids = {j.id for j in alice}
    for name in ("alice", "ALICE", "aLIce"):
        total, page = store.query(JobQuery(user_name=name, service="Demo/Tools", limit=None))
        assert total == 3 and {j.id for j in page} == ids, name
        assert store.query(JobQuery(user_name=name, service="Demo/Tools", kind="gp",
                                    statuses=frozenset({Status.SUCCEEDED})))[0] == 2
        assert store.query(JobQuery(user_name=name, created_before=time.time(), limit=None))[0] == 4
    assert store.query(JobQuery(user_name="alice", limit=2, offset=3))[0] == 4
    assert store.query(JobQuery(owner="alice"))[0] == 1 and store.query(JobQuery(owner="Alice"))[0] == 1
    for nobody in ("alic", "", "al%", "ALİCE", "alice\x00"):      # İ: only ASCII letters fold, as in user names
        assert store.query(JobQuery(user_name=nobody, limit=None)) == (0, []), nobody


def test_query_by_processes_and_run_time(store, job_factory):
    """The OGC job list's filters: several processes, min/max run time."""
    now = time.time()
    a = job_factory(task="Echo", owner="ann")
    b = job_factory(task="Slow")
    c = job_factory(service="Other", task="Echo")
    never = job_factory(task="Echo")                               # never starts
    for job, started, finished in ((a, now - 100, now - 90), (b, now - 50, None), (c, now - 10, now - 9)):
        store.claim(job.id, "h:1")
        fields = {"started": started} if finished is None else {"started": started, "finished": finished}
        dst = Status.EXECUTING if finished is None else Status.SUCCEEDED
        store.transition(job.id, [Status.EXECUTING], dst, **fields)
    ids = lambda q: {j.id for j in store.query(q)[1]}                                  # noqa: E731
    both = (("Demo/Tools", "Echo"), ("Other", "Echo"))
    assert ids(JobQuery(processes=both, limit=None)) == {a.id, c.id, never.id}
    assert store.query(JobQuery(processes=both, limit=1))[0] == 3
    assert ids(JobQuery(processes=(), limit=None)) == set()
    assert ids(JobQuery(min_duration=5, limit=None)) == {a.id, b.id}             # b: still running, 50 s so far
    assert ids(JobQuery(max_duration=20, limit=None)) == {a.id, c.id}
    assert ids(JobQuery(min_duration=5, max_duration=20, owner="ann", limit=None)) == {a.id}
    assert store.query(JobQuery(min_duration=0, statuses=frozenset({Status.SUCCEEDED}), limit=None))[0] == 2


def test_heartbeat_reports_cancel_and_reap_finds_stale_leases(store, job_factory):
    job = job_factory()
    store.claim(job.id, "w1")
    assert store.heartbeat(job.id, "w1") is False
    store.transition(job.id, [Status.EXECUTING], Status.CANCELLING, cancel_requested=True)
    assert store.heartbeat(job.id, "w1") is True
    assert [j.id for j in store.reap(time.time() + 1)] == [job.id]
    assert store.reap(time.time() - 60) == []


def test_delete_and_expired(store, job_factory):
    job = job_factory(retention=0.001)
    store.transition(job.id, [Status.SUBMITTED], Status.CANCELLED)
    assert store.expired(time.time() + 1) == [job.id]
    assert store.delete(job.id) is True
    assert store.delete(job.id) is False


def test_retention_counts_from_when_the_job_finished(store, job_factory):
    job = job_factory(retention=60)
    assert job.expires == pytest.approx(job.created + 60)
    store.claim(job.id, "w")
    later = job.created + 500          # it ran for 500 s, far past its retention
    done = store.transition(job.id, [Status.EXECUTING], Status.SUCCEEDED, finished=later)
    assert done.expires == pytest.approx(later + 60)
    assert store.expired(later + 59) == [] and store.expired(later + 61) == [job.id]


# -- totals: exact counts through inserts, status changes, deletes and folds ------------------

def _fold(store) -> None:
    """SQL stores fold count deltas now and then; a fold must never change a total."""
    getattr(store, "fold_counts", lambda: None)()


def _expected(stored: list[Job], q: JobQuery) -> tuple[int, list[str]]:
    """What a query must answer: every stored job through the shared filter, newest first."""
    from opengp.store.memory import matches

    alive = [j for j in stored if matches(j, q)]
    alive.sort(key=lambda j: (j.created, j.id), reverse=not q.oldest_first)
    end = None if q.limit is None else q.offset + q.limit
    return len(alive), [j.id for j in alive[q.offset:end]]


def test_totals_follow_inserts_status_changes_and_deletes(store, job_factory):
    succeeded = frozenset({Status.SUCCEEDED})
    gp = JobQuery(service="Demo/Tools", kind="gp")
    a = job_factory(owner="ann")
    b = job_factory(owner="ann")
    c = job_factory(owner=None)
    job_factory(owner="ann", kind=Kind.ADMIN)                       # same service, not a GP job
    job_factory(owner="ann", service="Other")
    assert store.query(gp)[0] == 3 and store.query(JobQuery(service="Demo/Tools"))[0] == 4
    assert store.query(JobQuery(service="Demo/Tools", kind="admin"))[0] == 1
    assert store.query(JobQuery(kind="gp", owner="ann"))[0] == 3
    store.claim(a.id, "w")
    store.transition(a.id, [Status.EXECUTING], Status.SUCCEEDED, finished=time.time())
    _fold(store)
    store.claim(b.id, "w")
    assert store.query(JobQuery(service="Demo/Tools", kind="gp", statuses=succeeded))[0] == 1
    assert store.query(JobQuery(service="Demo/Tools", kind="gp", statuses=frozenset({Status.EXECUTING})))[0] == 1
    assert store.query(JobQuery(service="Demo/Tools", kind="gp", statuses=frozenset({Status.SUBMITTED})))[0] == 1
    assert store.transition(a.id, [Status.EXECUTING], Status.FAILED) is None    # no move, no count change
    store.report(c.id, [Message.now("info", "x")], Progress(5))                 # not a status change
    store.heartbeat(b.id, "w")
    assert store.query(JobQuery(service="Demo/Tools", kind="gp", statuses=succeeded))[0] == 1
    assert store.delete(a.id) and not store.delete(a.id)
    assert store.query(JobQuery(service="Demo/Tools", kind="gp", statuses=succeeded))[0] == 0
    assert store.query(gp)[0] == 2
    _fold(store)
    store.transition(c.id, [Status.SUBMITTED], Status.CANCELLED, finished=time.time())
    assert store.query(JobQuery(service="Demo/Tools", kind="gp", owner="ann"))[0] == 1
    assert store.query(JobQuery(service="Demo/Tools", kind="gp", statuses=frozenset(
        {Status.CANCELLED, Status.EXECUTING})))[0] == 2
    assert store.query(JobQuery(service="Demo/Tools", kind="gp", statuses=frozenset()))[0] == 0
    total, page = store.query(JobQuery(service="Demo/Tools", kind="gp", limit=0))
    assert total == 2 and page == []
    job_factory(owner="ann", status=Status.FAILED)                              # stored finished
    with pytest.raises(IllegalMove):                                             # a terminal state is final
        store.transition(c.id, [Status.CANCELLED], Status.FAILED)
    assert store.transition(c.id, [Status.CANCELLED], Status.CANCELLED,          # a note: no move, no count
                            messages=[Message.now("info", "noted")]) is not None
    _fold(store)
    assert store.query(JobQuery(service="Demo/Tools", kind="gp", statuses=frozenset({Status.FAILED})))[0] == 1
    assert store.query(JobQuery(service="Demo/Tools", kind="gp", statuses=frozenset({Status.CANCELLED})))[0] == 1
    assert store.query(JobQuery(service="Demo/Tools", kind="gp", created_before=time.time()))[0] == 3


@pytest.mark.parametrize("inside_below", [None, 0.0, 1.01])
def test_totals_and_pages_match_a_scan_for_every_filter(store, job_factory, monkeypatch, inside_below):
    """Random jobs, moves and deletes; every combination of filters answers like a
    scan of all jobs.  ``inside_below`` makes SQL stores apply every time filter by
    counting the jobs outside the window (0.0) or inside it (1.01)."""
    import random

    from opengp.store import counts
    if inside_below is not None:
        monkeypatch.setattr(counts, "INSIDE_BELOW", inside_below)
    rng = random.Random(7)
    base = time.time() - 1000
    ids = []
    for i in range(60):
        created = base + rng.choice([rng.uniform(0, 900), 500.0])     # some share a creation time
        job = job_factory(service=rng.choice(["Demo/Tools", "Other"]), owner=rng.choice([None, "ann", "bob"]),
                          kind=rng.choice([Kind.GP, Kind.GP, Kind.ADMIN]), created=created)
        ids.append(job.id)
        if i == 30:
            _fold(store)
    for job_id in rng.sample(ids, 40):
        r = rng.random()
        if r < 0.5 and store.claim(job_id, "w"):
            store.transition(job_id, [Status.EXECUTING], rng.choice([Status.SUCCEEDED, Status.FAILED]),
                             finished=time.time())
        elif r < 0.7:
            store.transition(job_id, [Status.SUBMITTED], Status.CANCELLED)
        elif r < 0.8:
            store.delete(job_id)
        else:
            store.claim(job_id, "w")
    windows = [(None, None), (None, time.time()), (None, base + 500), (base + 100, None), (base + 100, base + 600),
               (base + 500, base + 500), (base + 600, base + 100)]
    status_sets = [None, frozenset({Status.SUCCEEDED}), frozenset({Status.SUBMITTED, Status.EXECUTING}),
                   frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})]
    stored = [j for j in map(store.get, ids) if j is not None]
    checked = 0
    for service in (None, "Demo/Tools"):
        for kind in (None, "gp"):
            for statuses in status_sets:
                for owner in (None, "ann"):
                    for after, before in windows:
                        for offset, limit, oldest_first in ((0, 3, False), (2, 3, True), (0, None, False)):
                            q = JobQuery(service=service, kind=kind, statuses=statuses, owner=owner,
                                         created_after=after, created_before=before, offset=offset,
                                         limit=limit, oldest_first=oldest_first)
                            total, page = store.query(q)
                            assert (total, [j.id for j in page]) == _expected(stored, q), q
                            checked += 1
    assert checked == 2 * 2 * 4 * 2 * 7 * 3


def test_totals_stay_exact_with_concurrent_writers_and_folds(store, job_factory):
    def work(n: int) -> None:
        for i in range(25):
            job = Job.new("Demo/Tools", "Echo", {}, owner=f"u{n}").evolve(status=Status.SUBMITTED)
            store.create(job)
            store.claim(job.id, f"w{n}")
            store.transition(job.id, [Status.EXECUTING], Status.SUCCEEDED, finished=time.time())
            if i % 5 == 0:
                store.delete(job.id)

    def folds() -> None:
        for _ in range(20):
            _fold(store)
            time.sleep(0.005)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)] + [threading.Thread(target=folds)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.query(JobQuery(service="Demo/Tools"))[0] == 4 * 20
    assert store.query(JobQuery(statuses=frozenset({Status.SUCCEEDED}), owner="u1"))[0] == 20
    assert store.query(JobQuery(statuses=frozenset({Status.SUBMITTED, Status.EXECUTING})))[0] == 0
    _fold(store)
    assert store.query(JobQuery(service="Demo/Tools", kind="gp", created_before=time.time()))[0] == 80


def test_a_job_without_owner_is_not_one_with_an_empty_name(store, job_factory):
    job_factory(owner=None)
    job_factory(owner="")
    job_factory(owner="ann")
    _fold(store)
    assert store.query(JobQuery(owner=""))[0] == 1
    assert store.query(JobQuery(owner="ann"))[0] == 1
    assert store.query(JobQuery())[0] == 3


# -- scale-out: claims by service, leases per node, reconciliation --------------------------------

def test_claim_next_takes_the_oldest_claimable_job_of_the_service(store, job_factory):
    base = time.time() - 100
    second = job_factory(created=base + 2)
    first = job_factory(created=base + 1)
    cancelled = job_factory(created=base, cancel_requested=True)
    job_factory(service="Other", created=base - 5)
    job_factory(kind=Kind.ADMIN, created=base - 5)                     # admin operations run on API servers
    assert store.next_queued("Demo/Tools") == first.id
    got = store.claim_next("Demo/Tools", "h:1")
    assert got.id == first.id and got.status is Status.EXECUTING and got.worker == "h:1" and got.attempts == 1
    assert store.claim_next("Demo/Tools", "h:2").id == second.id
    assert store.claim_next("Demo/Tools", "h:3") is None and store.next_queued("Demo/Tools") is None
    assert store.get(cancelled.id).status is Status.SUBMITTED


def test_claim_next_respects_the_limit_and_frees_a_slot_when_a_job_ends(store, job_factory):
    jobs = [job_factory(created=time.time() - 10 + i) for i in range(3)]
    assert store.claim_next("Demo/Tools", "h:1", limit=2).id == jobs[0].id
    assert store.claim_next("Demo/Tools", "h:2", limit=2).id == jobs[1].id
    assert store.claim_next("Demo/Tools", "h:3", limit=2) is None
    store.transition(jobs[0].id, [Status.EXECUTING], Status.SUCCEEDED, finished=time.time())
    assert store.claim_next("Demo/Tools", "h:3", limit=2).id == jobs[2].id
    assert store.claim_next("Demo/Tools", "h:3") is None


def test_concurrent_claim_next_never_exceeds_the_limit(store, job_factory):
    for i in range(12):
        job_factory(created=time.time() - 100 + i)
    peak, running, lock = [0], [0], threading.Lock()

    def work(n: int) -> None:
        while True:
            job = store.claim_next("Demo/Tools", f"h:{n}", limit=2)
            if job is None:
                if store.next_queued("Demo/Tools") is None:
                    return
                time.sleep(0.002)
                continue
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.005)
            with lock:
                running[0] -= 1
            store.transition(job.id, [Status.EXECUTING], Status.SUCCEEDED, finished=time.time())

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] <= 2
    assert store.query(JobQuery(statuses=frozenset({Status.SUCCEEDED})))[0] == 12


def test_renew_leases_renews_only_the_named_workers_and_reports_cancels(store, job_factory):
    a, b, c = job_factory(), job_factory(), job_factory()
    store.claim(a.id, "h:1")
    store.claim(b.id, "h:2")
    store.claim(c.id, "h:3")
    store.transition(b.id, [Status.EXECUTING], Status.CANCELLING, cancel_requested=True)
    time.sleep(0.3)
    leases = {lease.id: lease for lease in store.renew_leases(["h:1", "h:2"])}
    assert set(leases) == {a.id, b.id}
    assert leases[b.id].cancel_requested and leases[b.id].status is Status.CANCELLING
    assert not leases[a.id].cancel_requested and leases[a.id].service == "Demo/Tools"
    assert [j.id for j in store.stale(0.2)] == [c.id]
    assert store.renew_leases([]) == []


def test_stale_leaves_admin_jobs_and_backlog_counts_by_service(store, job_factory):
    admin = job_factory(kind=Kind.ADMIN)
    store.transition(admin.id, [Status.SUBMITTED], Status.EXECUTING)
    old = job_factory(created=time.time() - 50)
    job_factory()
    job_factory(service="Other", cancel_requested=True)
    store.claim_next("Demo/Tools", "h:1")
    assert store.stale(-1.0) != [] and admin.id not in {j.id for j in store.stale(-1.0)}
    (backlog,) = store.backlog()
    assert (backlog.service, backlog.queued, backlog.running) == ("Demo/Tools", 1, 1)
    assert backlog.oldest > old.created


def test_stale_operations_are_open_admin_jobs_without_a_recent_heartbeat(store):
    def operation(status, updated):
        job = Job.new("Demo/Tools", "edit", {}, kind=Kind.ADMIN).evolve(status=status, updated=updated,
                                                                        worker="api:h:1")
        store.create(job)
        return job

    old = time.time() - 200
    silent, queued = operation(Status.EXECUTING, old), operation(Status.SUBMITTED, old)
    operation(Status.EXECUTING, time.time())        # recent
    operation(Status.SUCCEEDED, old)                # ended: never stale
    worker_job = Job.new("Demo/Tools", "Echo", {}).evolve(status=Status.SUBMITTED, updated=old)
    store.create(worker_job)                        # not an operation
    assert {j.id for j in store.stale_operations(100)} == {silent.id, queued.id}
    store.heartbeat(silent.id, "api:h:1")           # its server is alive after all
    assert {j.id for j in store.stale_operations(100)} == {queued.id}
    time.sleep(0.3)
    assert silent.id in {j.id for j in store.stale_operations(0.2)}


def test_try_lock_has_one_holder_at_a_time(store):
    with store.try_lock("reconcile") as mine:
        assert mine
        if isinstance(store, SqlStore) and not store.is_sqlite:
            other = SqlStore(store.url, migrate=False)
            try:
                with other.try_lock("reconcile") as theirs:
                    assert not theirs
                with other.try_lock("purge") as theirs:
                    assert theirs
            finally:
                other.close()
    with store.try_lock("reconcile") as again:
        assert again


def test_lock_waits_for_the_holder(store):
    """``lock`` (what must happen once per deployment): a second holder waits for the first."""
    import threading

    other = SqlStore(store.url, migrate=False) if isinstance(store, SqlStore) and not store.is_sqlite else store
    order: list[str] = []
    try:
        with store.lock("bootstrap"):
            if isinstance(store, SqlStore) and store.is_sqlite:
                return      # one server owns a SQLite file: nothing to wait for
            def wait_for_it() -> None:
                with other.lock("bootstrap"):
                    order.append("second")

            waiter = threading.Thread(target=wait_for_it)
            waiter.start()
            waiter.join(0.5)
            assert waiter.is_alive(), "the second holder did not wait"
            order.append("first")
        waiter.join(5)
        assert order == ["first", "second"]
        with store.lock("bootstrap"):      # released again
            pass
    finally:
        if other is not store:
            other.close()


def test_a_lock_held_too_long_fails_saying_so(store, monkeypatch):
    """A process stuck holding ``bootstrap`` must not hang every other start without a word."""
    if not (isinstance(store, SqlStore) and not store.is_sqlite):
        return      # only PostgreSQL locks across processes
    from opengp.store import claims

    monkeypatch.setattr(claims, "_LOCK_WAIT", 0.3)
    other = SqlStore(store.url, migrate=False)
    try:
        with store.lock("bootstrap"):
            with pytest.raises(StoreError, match="held the 'bootstrap' lock"):
                with other.lock("bootstrap"):
                    pass
        with other.lock("bootstrap"):       # free again: taken at once
            pass
    finally:
        other.close()


# -- large values, kept apart from the job's record (store/values.py) --------------------------
def test_large_inputs_are_kept_apart_and_read_only_on_request(store):
    import orjson

    from opengp.core import Stored

    big, small = {"features": [{"attributes": {"i": i}} for i in range(1000)]}, {"distance": 5}
    job = Job.new("Demo/Tools", "Echo", {"big": big, "small": small}).evolve(status=Status.SUBMITTED)
    store.create(job)
    for seen in (store.get(job.id), store.query(JobQuery(limit=None))[1][0], store.claim(job.id, "w1")):
        assert seen.inputs == {"big": Stored(len(orjson.dumps(big))), "small": small}
    assert {n: orjson.loads(v) for n, v in store.values(job.id, "input").items()} == {"big": big}
    assert store.values(job.id, "input", "small") == {} and store.values(job.id, "result") == {}


def test_large_results_are_written_with_the_end_or_not_at_all(store, job_factory):
    import orjson

    from opengp.core import Stored
    from opengp.store.values import PREVIEW_BYTES, encode_results

    features = {"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326},
                "features": [{"geometry": {"x": i, "y": i}, "attributes": {"name": "n" * 60}} for i in range(5000)]}
    encoded = encode_results({"out": {"dataType": "GPFeatureRecordSetLayer", "value": features},
                              "count": {"dataType": "GPLong", "value": 5000}})
    job = job_factory()
    assert store.transition(job.id, [Status.EXECUTING], Status.SUCCEEDED, results=encoded) is None   # not running
    assert store.values(job.id, "result") == {}                      # the losing move wrote nothing
    store.claim(job.id, "w1")
    done = store.transition(job.id, [Status.EXECUTING], Status.SUCCEEDED, results=encoded, finished=time.time())
    size = len(orjson.dumps(features))
    assert done.results == {"out": {"dataType": "GPFeatureRecordSetLayer", "value": Stored(size, 5000)},
                            "count": {"dataType": "GPLong", "value": 5000}}
    assert store.get(job.id).results == done.results
    assert orjson.loads(store.values(job.id, "result", "out")["out"]) == features
    preview = orjson.loads(store.values(job.id, "preview", "out")["out"])
    assert preview["spatialReference"] == {"wkid": 4326} and 0 < len(preview["features"]) < 5000
    assert preview["features"] == features["features"][:len(preview["features"])]
    assert len(orjson.dumps(preview)) <= PREVIEW_BYTES + 200
    assert store.delete(job.id)
    assert store.values(job.id, "result") == {} and store.values(job.id, "preview") == {}


def test_a_stamped_job_is_stamped_as_it_is_stored(store):
    """``create(stamp=True)``: created and updated are the store's clock at the insert, and the
    job is kept as long from then (expires moves with created)."""
    job = Job.new("Demo/Tools", "Echo", {"text": "hi"}, retention=60).evolve(status=Status.SUBMITTED)
    job = job.evolve(created=1000.0, updated=1000.0, expires=1060.0)
    before = time.time()
    stored = store.create(job, stamp=True)
    after = time.time()
    assert before - 1 <= stored.created <= after + 1 and stored.updated == stored.created   # (the database's clock)
    assert stored.expires == pytest.approx(stored.created + 60)
    read = store.get(job.id)
    assert (read.created, read.updated, read.expires) == (stored.created, stored.updated, stored.expires)
    given = Job.new("Demo/Tools", "Echo", {}).evolve(created=1000.0, updated=1000.0)
    assert store.create(given).created == store.get(given.id).created == 1000.0     # as given otherwise


def test_no_job_created_before_a_settled_time_commits_after_it(store):
    """While jobs are being created on four threads, the jobs created up to a settled time are
    the same when counted at once and a moment later: a page of the admin jobs/query up to its
    echoed endTime never gains a job that would shift it."""
    service, stop, errors = "Settle/Jobs", threading.Event(), []

    def create() -> None:
        while not stop.is_set():
            store.create(Job.new(service, "Echo", {}).evolve(status=Status.SUBMITTED), stamp=True)

    def count(upto: float) -> int:
        return store.query(JobQuery(service=service, created_before=upto, limit=0))[0]

    writers = [threading.Thread(target=create) for _ in range(4)]
    for w in writers:
        w.start()
    try:
        for _ in range(60):         # a number of checks, not a time: a loaded machine checks as much
            settled = store.settled_time()
            first = count(settled)
            time.sleep(0.002)
            if count(settled) != first:
                errors.append((settled, first, count(settled)))
    finally:
        stop.set()
        for w in writers:
            w.join()
    assert errors == [], errors[:3]
    assert count(time.time() + 60) > 60         # jobs were being created all along
