-- EXECUTE on the jklg.* functions for their owner only, as sql/009 meant.
-- Its ALTER DEFAULT PRIVILEGES IN SCHEMA jklg ... REVOKE ... FROM PUBLIC
-- did nothing: a per-schema default privilege can only add to the global
-- ones, and PUBLIC's EXECUTE on new functions is global. Other roles were
-- kept out all the same, by the schema (PUBLIC has no USAGE on jklg); this
-- closes the second door. A migration that adds a jklg.* function revokes
-- PUBLIC's EXECUTE on it likewise; test_sql_api.py fails otherwise. A
-- deployment with a runtime role of its own grants that role EXECUTE
-- explicitly (docs/database.md), which this does not touch.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA jklg FROM PUBLIC;
