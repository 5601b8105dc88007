"""The tests' factories, kept in demo.factories (outside the runtime app, beside the demo's
generators): `from tests.factories import …` keeps working."""

from demo.factories import (  # noqa: F401
    FACTORIES, AuditEventFactory, AuthEventFactory, LogFactory, MemberFactory, StaffFactory,
    SystemEventFactory, UsageRecordFactory, UserFactory, add_roles, recent,
)
