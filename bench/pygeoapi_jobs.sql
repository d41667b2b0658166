-- Job table for pygeoapi's PostgreSQL process manager (pygeoapi >= 0.18).
--
-- pygeoapi does not create this table itself: PostgreSQLManager reflects an
-- existing table named "jobs" with primary key "identifier". Its test suite
-- restores tests/data/postgres_manager_full_structure.backup.sql; the columns
-- below are the keys BaseManager.execute_process() writes into job_metadata
-- (type, identifier, process_id, created, started, updated, finished, status,
-- location, mimetype, message, progress), with the types used in that dump.
CREATE TABLE IF NOT EXISTS public.jobs (
    type character varying DEFAULT 'process'::character varying NOT NULL,
    identifier character varying NOT NULL PRIMARY KEY,
    process_id character varying NOT NULL,
    created timestamp without time zone,
    started timestamp without time zone,
    updated timestamp without time zone,
    finished timestamp without time zone,
    status character varying NOT NULL,
    location character varying,
    mimetype character varying,
    message character varying,
    progress integer NOT NULL
);
