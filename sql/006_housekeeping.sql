-- Housekeeping: rows that only history keeps alive. Run by every Apache
-- child about once an hour (the mail sweep calls jklg_purge), so tables
-- that grow with every login or email stay the size of their live data.

CREATE INDEX email_verification_tokens_expires_idx
    ON email_verification_tokens (expires_at);
CREATE INDEX password_reset_tokens_expires_idx
    ON password_reset_tokens (expires_at);

-- Returns how many rows went. Sessions and tokens a day past expiry (so
-- an "expired" answer can still be told from "unknown" for a while); sent
-- mail after 30 days (its delivery record), failed mail after 90.
CREATE FUNCTION jklg_purge() RETURNS bigint LANGUAGE plpgsql
AS $$
DECLARE
    n bigint;
    total bigint := 0;
BEGIN
    DELETE FROM customer_sessions WHERE expires_at < now() - interval '1 day';
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    DELETE FROM email_verification_tokens
     WHERE expires_at < now() - interval '1 day';
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    DELETE FROM password_reset_tokens
     WHERE expires_at < now() - interval '1 day';
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    DELETE FROM email_outbox
     WHERE (status = 'sent' AND sent_at < now() - interval '30 days')
        OR (status = 'failed' AND created_at < now() - interval '90 days');
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN total + n;
END
$$;
