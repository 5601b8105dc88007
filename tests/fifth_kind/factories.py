import factory

from tests.factories import LogFactory
from tests.fifth_kind.models import DeployEvent


class DeployEventFactory(LogFactory):
    class Meta:
        model = DeployEvent

    actor_type = "service"
    service = factory.Iterator(["billing", "gateway", "search"])
    version = factory.Sequence(lambda n: f"1.{n}.0")
    environment = "production"
    result = "success"
    message = "rolled out"
