"""Demo data for the console, outside the runtime app (logcenter imports none of it).

`manage.py seed_demo` loads it; the tests build on its factories. One module per kind
builds that kind's rows (`demo.audit`, `demo.usage`, `demo.auth`, `demo.system`, each
registering its generator with `demo.builder.generates`); a kind registered by another app
brings its own in that app's `demo` module. Around them:

- `demo.common`: the world they share (constants, the traffic rhythm, the gateway's
  catalog, the users and API keys);
- `demo.builder`: the generators per kind and the builder that runs them, correlated;
- `demo.seed`: the idempotent 30-day set (`seed`) and extra event rows (`add_events`);
- `demo.bulk`: millions of usage rows for benchmarks (`add_usage`), through the storage
  engine's bulk load;
- `demo.factories`: factory-boy factories of users and every kind (the tests' too).

No secret is ever written to a log row: no password, raw API key or session key. Sessions are
correlated by a SHA-256 of a random value, API keys by their public prefix.
"""

from demo.builder import (  # noqa: F401
    DEMO_GENERATORS, DemoBuilder, demo_counts, demo_id, extra_event_shares, generates,
    generator_for,
)
from demo.bulk import add_usage  # noqa: F401
from demo.common import (  # noqa: F401
    DAYS, DEMO_LOGINS, DEMO_USER_COUNT, DEMO_USER_PASSWORD, EXTRA_DAYS, SEED,
)
from demo.seed import Seeded, add_events, seed  # noqa: F401
