"""The tests' factories, kept in demo.factories (outside the runtime app, beside the demo's
generators): `from tests.factories import …` keeps working."""

from demo.factories import (  # noqa: F401
    FACTORIES, AuditEventFactory, AuthEventFactory, LogFactory, MemberFactory, StaffFactory,
    SystemEventFactory, UsageRecordFactory, UserFactory, add_roles, recent,
)

import factory  # noqa: E402

from accounts.models import Membership, Organization, Plan, Project  # noqa: E402


def plan(slug):
    """One of the plans migration accounts 0007 seeds (free, basic, pro, business,
    enterprise)."""
    return Plan.objects.get(slug=slug)


class OrganizationFactory(factory.django.DjangoModelFactory):
    """An organization on a seeded plan (`plan="pro"`, by slug), with its default project."""

    class Meta:
        model = Organization
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Customer {n}")
    slug = factory.Sequence(lambda n: f"customer-{n}")
    plan = "pro"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        if isinstance(kwargs.get("plan"), str):
            kwargs["plan"] = plan(kwargs["plan"])
        return super()._create(model_class, *args, **kwargs)

    @factory.post_generation
    def default_project(obj, create, extracted, **kwargs):
        if create:
            Project.objects.create(organization=obj, name="Default", slug="default",
                                   is_default=True)


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    """A console user (the Member role, as every customer's user) in an organization with
    an organization role."""

    class Meta:
        model = Membership

    user = factory.SubFactory(MemberFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = "member"
