"""The HTTP suite's fixtures live in harness/: a private PostgreSQL cluster
(fixtures_pg), the Stripe API stand-in (fixtures_stripe), the SMTP stand-in and Apache with the module (fixtures_httpd);
every response from the module is checked against docs/openapi.yaml
(openapi_check).
Run from this directory: /usr/bin/python3 -m pytest."""

pytest_plugins = ["harness.fixtures_pg", "harness.fixtures_stripe",
                  "harness.fixtures_httpd", "harness.openapi_check"]
