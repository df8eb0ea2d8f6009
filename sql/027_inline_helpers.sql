-- 027: small SQL helpers marked with the volatility of what they call.
--
-- A LANGUAGE sql function is inlined into the query that calls it only
-- when its body is no more volatile than it says it is. These were
-- declared IMMUTABLE but call STABLE functions (to_char, to_jsonb,
-- jsonb_build_object), so PostgreSQL ran each call through the function
-- manager instead of inlining it: jklg_ts alone made jklg.me_get 30 %
-- slower (pgbench, prepared: 24,300 calls/s before, 34,400 after, on
-- 50,000 customers). None is used in an index, a constraint or a
-- generated column, where IMMUTABLE would be required.
ALTER FUNCTION jklg_ts(timestamptz) STABLE;
ALTER FUNCTION jklg_date(date) STABLE;
ALTER FUNCTION jklg_cursor(timestamptz, uuid) STABLE;
ALTER FUNCTION jklg_money(bigint, text) STABLE;
ALTER FUNCTION jklg.page(jsonb[], timestamptz[], uuid[], integer) STABLE;
ALTER FUNCTION jklg.export_list(jsonb[], integer) STABLE;
ALTER FUNCTION jklg.mfa_secret_json(customer_mfa) STABLE;
ALTER FUNCTION jklg_not_possible(text) STABLE;
