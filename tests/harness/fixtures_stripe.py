"""pytest plugin: the Stripe API stand-in (harness.stripe) for the session.
Enable with `pytest_plugins = [..., "harness.fixtures_stripe"]` in
conftest.py, or `pytest -p harness.fixtures_stripe`.

`stripe_api` is the session's stand-in (for fixtures that configure the
server: JKLGStripeAPIBase stripe_api.url, JKLGStripeSecretKey
stripe_api.secret_key, JKLGStripeWebhookSecret stripe_api.webhook_secret);
`stripe` is the same stand-in for one test, with injected faults, delays and
recorded requests cleared before and after it. Test modules that also need
the official library should import it under another name
(`import stripe as stripe_lib`), since the fixture shadows it."""

import pytest

from harness.stripe import StripeStandin

SECRET_KEY = "sk_test_jklg"
WEBHOOK_SECRET = "whsec_test_jklg"


@pytest.fixture(scope="session")
def stripe_api():
    standin = StripeStandin(secret_key=SECRET_KEY,
                            webhook_secret=WEBHOOK_SECRET)
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
def stripe(stripe_api):
    stripe_api.reset()
    yield stripe_api
    stripe_api.reset()
