"""The fifth kind's demo rows (manage.py seed_demo, through its registry entry's `demo`)."""

from datetime import timedelta

from tests.fifth_kind.models import DeployEvent


def generate(builder):
    rng, count = builder.rng, builder.counts["deploy"]
    services = ["billing", "gateway", "search", "exports"]
    rows = []
    for n in range(count):
        occurred_at = builder.now - timedelta(seconds=rng.randint(60, 29 * 86400))
        rows.append(DeployEvent(
            occurred_at=occurred_at, ingested_at=occurred_at, actor_type="service",
            actor_id="svc-deployer", actor_name="deployer", service=rng.choice(services),
            version=f"2.{n // 40}.{n % 40}", environment=rng.choice(["staging", "production"]),
            result="failure" if rng.random() < 0.05 else "success", message="rolled out"))
    return rows
