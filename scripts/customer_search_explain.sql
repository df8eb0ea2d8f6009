-- The staff customer search (jklg.staff_customers, sql/015) at 100,000
-- customers: its plans with EXPLAIN ANALYZE, inside a transaction that is
-- rolled back, so it may run against any migrated database:
--
--   psql "$DATABASE_URL" -X -f scripts/customer_search_explain.sql
--
-- docs/staff.md quotes a run.
BEGIN;
SET LOCAL jit = off;

INSERT INTO customers (email, password_hash, first_name, last_name, created_at)
SELECT 'user' || g || '.' || substr(md5(g::text), 1, 8) || '@example.com',
       '!', (ARRAY['Ana', 'João', 'Maria', 'Pedro', 'Inês', 'Luís', 'Marta',
                   'Rui', 'Sofia', 'Tiago'])[1 + g % 10],
       (ARRAY['Silva', 'Santos', 'Ferreira', 'Pereira', 'Oliveira', 'Costa',
              'Rodrigues', 'Martins', 'Jesus', 'Sousa', 'Fernandes',
              'Gonçalves', 'Gomes', 'Lopes', 'Marques', 'Alves', 'Almeida',
              'Ribeiro', 'Pinto', 'Carvalho'])[1 + (g * 7) % 20]
             || CASE WHEN g % 1000 = 0 THEN ' Zweistein' ELSE '' END,
       now() - g * interval '1 minute'
  FROM generate_series(1, 100000) g;
ANALYZE customers;

\echo '== a rare email fragment (1 match)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT c.id FROM customers c
 WHERE (c.email || ' ' || lower(c.first_name) || ' ' || lower(c.last_name))
       LIKE '%' || 'user4242.' || '%'
 ORDER BY c.created_at DESC, c.id DESC LIMIT 21;

\echo '== a rare name (100 matches)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT c.id FROM customers c
 WHERE (c.email || ' ' || lower(c.first_name) || ' ' || lower(c.last_name))
       LIKE '%' || 'zweistein' || '%'
 ORDER BY c.created_at DESC, c.id DESC LIMIT 21;

\echo '== a common name (5,000 matches: the newest-first index until a page is full)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT c.id FROM customers c
 WHERE (c.email || ' ' || lower(c.first_name) || ' ' || lower(c.last_name))
       LIKE '%' || 'silva' || '%'
 ORDER BY c.created_at DESC, c.id DESC LIMIT 21;

\echo '== the generic plan a PL/pgSQL function may cache (pattern a parameter)'
PREPARE search(text) AS
SELECT c.id FROM customers c
 WHERE (c.email || ' ' || lower(c.first_name) || ' ' || lower(c.last_name))
       LIKE '%' || $1 || '%'
 ORDER BY c.created_at DESC, c.id DESC LIMIT 21;
SET LOCAL plan_cache_mode = force_generic_plan;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE search('user4242.');

\echo '== planned with the value, as the function does (EXECUTE ... USING)'
SET LOCAL plan_cache_mode = force_custom_plan;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE search('user4242.');

\echo '== no q: the newest page (customers_created_idx)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT c.id FROM customers c
 ORDER BY c.created_at DESC, c.id DESC LIMIT 21;

\echo '== the whole function call (the first call of a session also compiles it)'
\timing on
SELECT outcome, jsonb_array_length(body->'data')
  FROM jklg.staff_customers('explain', 'user4242.', NULL, NULL, 20);
SELECT outcome, jsonb_array_length(body->'data')
  FROM jklg.staff_customers('explain', 'user4242.', NULL, NULL, 20);
SELECT outcome, jsonb_array_length(body->'data')
  FROM jklg.staff_customers('explain', 'zweistein', NULL, NULL, 20);
SELECT outcome, jsonb_array_length(body->'data')
  FROM jklg.staff_customers('explain', 'silva', NULL, NULL, 20);
SELECT outcome, jsonb_array_length(body->'data')
  FROM jklg.staff_customers('explain', NULL, NULL, NULL, 20);
\timing off
ROLLBACK;
