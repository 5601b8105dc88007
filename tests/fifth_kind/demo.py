"""The fifth kind's demo rows (manage.py seed_demo), built on its factory.

Found as the `demo` module of the kind's app (demo.builder); every value is drawn from the
builder's rng, so the rows come out the same on every run.
"""

from datetime import timedelta

from demo.builder import generates
from tests.fifth_kind.factories import DeployEventFactory


@generates("deploy", count=500)
def generate(builder):
    rng, count = builder.rng, builder.counts["deploy"]
    services = ["billing", "gateway", "search", "exports"]
    rows = []
    for n in range(count):
        occurred_at = builder.now - timedelta(seconds=rng.randint(60, 29 * 86400))
        rows.append(DeployEventFactory.build(
            occurred_at=occurred_at, ingested_at=occurred_at, actor_type="service",
            actor_id="svc-deployer", actor_name="deployer", service=rng.choice(services),
            version=f"2.{n // 40}.{n % 40}", environment=rng.choice(["staging", "production"]),
            result="failure" if rng.random() < 0.05 else "success", message="rolled out",
            request_id=f"req_{rng.getrandbits(96):024x}"))
    return rows
