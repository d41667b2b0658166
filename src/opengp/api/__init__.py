"""HTTP faces over the job service."""
