-- Reconciliation with the payment gateway (issue 12): a job asks the
-- gateway for the events of a time window and applies those we missed
-- through jklg_apply_event, the webhook's exactly-once path (the event id
-- is the key, so a webhook arriving later is a duplicate, and a run
-- repeating a window applies nothing twice). Each run is a row.

CREATE TABLE reconciliation_runs (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    gateway     text NOT NULL,
    -- NULL: the scheduled job; else the staff user who started it.
    started_by  text,
    status      text NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'succeeded', 'failed')),
    -- The window asked for: events created at or after this time.
    since       timestamptz NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    checked     integer NOT NULL DEFAULT 0,
    applied     integer NOT NULL DEFAULT 0,
    mismatches  jsonb NOT NULL DEFAULT '[]',
    error       text
);
-- One running run per gateway, whatever the number of servers: the
-- second claim fails here even if the advisory lock were skipped.
CREATE UNIQUE INDEX reconciliation_runs_running_idx
    ON reconciliation_runs (gateway) WHERE status = 'running';
CREATE INDEX reconciliation_runs_started_idx
    ON reconciliation_runs (started_at DESC, id DESC);
-- Staff's record: no policy, so no customer role sees it.
ALTER TABLE reconciliation_runs ENABLE ROW LEVEL SECURITY;

CREATE FUNCTION jklg.reconciliation_run_json(r reconciliation_runs)
    RETURNS jsonb LANGUAGE sql STABLE SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object(
        'id', r.id, 'gateway', r.gateway, 'status', r.status,
        'started_by', r.started_by, 'since', jklg_ts(r.since),
        'started_at', jklg_ts(r.started_at),
        'finished_at', jklg_ts(r.finished_at),
        'checked', r.checked, 'applied', r.applied,
        'mismatches', r.mismatches, 'error', r.error)
$$;

-- Claims a run. p_staff NULL: the scheduled job, which runs only when no
-- run started within p_interval seconds ('not_due'). 'conflict' while one
-- is running (one that ran longer than p_stale seconds died with its
-- server: it is closed as failed). The window starts at the last
-- successful run's start minus p_overlap seconds (events are created a
-- little before they become visible), or p_lookback seconds ago.
CREATE FUNCTION jklg.reconcile_start(p_gateway text, p_staff text,
                                     p_interval int, p_overlap int,
                                     p_lookback int, p_stale int)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    run reconciliation_runs;
    since timestamptz;
BEGIN
    -- Claims of all servers in turn: each sees the ones before committed.
    PERFORM pg_advisory_xact_lock(hashtext('jklg_reconcile:' || p_gateway));
    UPDATE reconciliation_runs
       SET status = 'failed', finished_at = now(),
           error = 'abandoned: its server stopped before finishing'
     WHERE gateway = p_gateway AND status = 'running'
       AND started_at < now() - make_interval(secs => p_stale);
    IF EXISTS (SELECT 1 FROM reconciliation_runs
                WHERE gateway = p_gateway AND status = 'running') THEN
        RETURN jklg.answer('conflict');
    END IF;
    IF p_staff IS NULL AND EXISTS (
            SELECT 1 FROM reconciliation_runs
             WHERE gateway = p_gateway
               AND started_at > now() - make_interval(secs => p_interval)) THEN
        RETURN jklg.answer('not_due');
    END IF;
    SELECT max(started_at) - make_interval(secs => p_overlap) INTO since
      FROM reconciliation_runs
     WHERE gateway = p_gateway AND status = 'succeeded';
    INSERT INTO reconciliation_runs (gateway, started_by, since)
    VALUES (p_gateway, p_staff,
            COALESCE(since, now() - make_interval(secs => p_lookback)))
    RETURNING * INTO run;
    RETURN jklg.answer('created', jsonb_build_object(
        'run', jklg.reconciliation_run_json(run),
        'since_epoch', floor(extract(epoch FROM run.since))::bigint));
EXCEPTION WHEN unique_violation THEN
    RETURN jklg.answer('conflict');
END
$$;

-- One event of the gateway, as its webhook would have carried it. Already
-- stored: 'duplicate'. A payment that succeeded for another amount or
-- currency than ours is not applied (that is staff's to look at): it is
-- recorded on the run as a mismatch, 'mismatch'. Else jklg_apply_event
-- applies it: 'ok' with its emails.
CREATE FUNCTION jklg.reconcile_apply(p_run uuid, p_id text, p_gateway text,
                                     p_type text, p_payload jsonb,
                                     p_kind text, p_ref text, p_tx text,
                                     p_amount bigint, p_currency text,
                                     p_reason text, p_public_url text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    t transactions;
    r jsonb;
    emails uuid[];
BEGIN
    UPDATE reconciliation_runs SET checked = checked + 1 WHERE id = p_run;
    IF EXISTS (SELECT 1 FROM payment_events WHERE id = p_id) THEN
        RETURN jklg.answer('duplicate');
    END IF;
    SELECT * INTO t FROM transactions
     WHERE gateway = p_gateway
       AND (gateway_ref = p_ref
            OR (gateway_ref IS NULL AND id = jklg_uuid_or_null(p_tx)))
     ORDER BY gateway_ref IS NULL LIMIT 1;
    IF FOUND AND p_kind = 'succeeded'
       AND (t.amount <> p_amount
            OR lower(t.currency) <> lower(COALESCE(p_currency, t.currency)))
    THEN
        UPDATE reconciliation_runs
           SET mismatches = mismatches || jsonb_build_array(jsonb_build_object(
                   'transaction_id', t.id, 'event_id', p_id,
                   'local_status', t.status, 'gateway_status', p_kind,
                   'local_amount', t.amount, 'currency', t.currency,
                   'gateway_amount', p_amount,
                   'gateway_currency', lower(COALESCE(p_currency,
                                                      t.currency))))
         WHERE id = p_run;
        RETURN jklg.answer('mismatch');
    END IF;
    r := jklg_apply_event(p_id, p_gateway, p_type, p_payload, p_kind, p_ref,
                          p_tx, p_amount, p_reason, p_public_url);
    IF r ? 'duplicate' THEN
        RETURN jklg.answer('duplicate');
    END IF;
    emails := ARRAY(SELECT jsonb_array_elements_text(r->'emails'))::uuid[];
    UPDATE reconciliation_runs SET applied = applied + 1 WHERE id = p_run;
    RETURN jklg.ok(jsonb_build_object('transaction_id', r->'transaction_id'),
                   emails);
END
$$;

-- Ends a run: p_error NULL, it succeeded (its start becomes the next
-- window's); else it failed and the next run asks for its window again.
CREATE FUNCTION jklg.reconcile_finish(p_run uuid, p_error text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    run reconciliation_runs;
BEGIN
    UPDATE reconciliation_runs
       SET status = CASE WHEN p_error IS NULL THEN 'succeeded'
                         ELSE 'failed' END,
           error = p_error, finished_at = now()
     WHERE id = p_run AND status = 'running'
    RETURNING * INTO run;
    IF NOT FOUND THEN
        RETURN jklg.answer('not_found');
    END IF;
    RETURN jklg.ok(jsonb_build_object('run',
                                      jklg.reconciliation_run_json(run)));
END
$$;

-- GET /api/admin/reconciliation: newest first, keyset pages.
CREATE FUNCTION jklg.staff_reconciliation_runs(p_staff text,
                                               p_after_time timestamp,
                                               p_after_id uuid, p_limit int)
    RETURNS jklg.outcome LANGUAGE sql STABLE SET search_path = public, pg_temp
AS $$
    SELECT jklg.ok(jklg.page(
        array_agg(jklg.reconciliation_run_json(p.r)
                  ORDER BY (p.r).started_at DESC, (p.r).id DESC),
        array_agg((p.r).started_at ORDER BY (p.r).started_at DESC,
                  (p.r).id DESC),
        array_agg((p.r).id ORDER BY (p.r).started_at DESC, (p.r).id DESC),
        p_limit))
      FROM (SELECT r FROM reconciliation_runs r
             WHERE p_after_time IS NULL
                OR (r.started_at, r.id)
                   < (p_after_time AT TIME ZONE 'UTC', p_after_id)
             ORDER BY r.started_at DESC, r.id DESC
             LIMIT p_limit + 1) p
$$;
