-- Emails in the customer's language (issue 11). Each outbox row carries the
-- language tag its mail is written in, decided when the mail is queued: the
-- customer's preference at the time of the event, whatever changes later.
--
-- The column is filled by a trigger, so that no INSERT INTO email_outbox
-- (today's and those other changes add) has to know about languages: an
-- INSERT that names a language keeps it, one that does not gets the
-- preference of the customer the mail is for, found by
--   1. data->>'customer_id', when it holds a uuid (for mail to an address
--      that is not, or no longer, the customer's: an email change), else
--   2. the recipient address (customers.email is stored lowercased).
-- No customer, or no preferences row: NULL, which the mail thread renders in
-- the default language, en. The tag is stored as the customer chose it
-- ("pt-BR"); the mail thread maps it to a language it has templates for.

ALTER TABLE email_outbox ADD COLUMN language text
    CHECK (language ~ '^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$');

CREATE FUNCTION jklg_outbox_language() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
DECLARE
    cid uuid;
BEGIN
    IF NEW.language IS NOT NULL THEN
        RETURN NEW;
    END IF;
    -- Checked before the cast: a malformed id in data must not make the
    -- INSERT (and with it the change that queued the mail) fail.
    IF jsonb_typeof(NEW.data) = 'object' AND NEW.data->>'customer_id'
       ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        cid := (NEW.data->>'customer_id')::uuid;
    ELSE
        SELECT id INTO cid FROM customers
         WHERE email = lower(btrim(NEW.recipient));
    END IF;
    SELECT language INTO NEW.language FROM customer_preferences
     WHERE customer_id = cid;
    RETURN NEW;
END
$$;

CREATE TRIGGER email_outbox_language BEFORE INSERT ON email_outbox
    FOR EACH ROW EXECUTE FUNCTION jklg_outbox_language();
