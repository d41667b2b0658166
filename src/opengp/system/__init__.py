"""What this machine offers every layer: the data folder's layout and permissions (files.py)
and the one guard on outbound URLs (urls.py).  Imports only the standard library and core."""
