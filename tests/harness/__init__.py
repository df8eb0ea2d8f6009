"""Test harness for mod_jklg: private PostgreSQL cluster and pytest fixtures."""
