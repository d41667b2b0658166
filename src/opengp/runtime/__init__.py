"""Running jobs: run_job(), the one code path of every worker, and where job files are kept."""
