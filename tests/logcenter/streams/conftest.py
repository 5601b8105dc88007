import pytest

from logcenter.streams import services


@pytest.fixture(autouse=True)
def quick_horizon(settings):
    # The safe horizon's settle pause (a second) is for writers in other sessions.
    settings.LOGCENTER_INTEGRITY = {**settings.LOGCENTER_INTEGRITY, "SETTLE_SECONDS": 0}
    settings.LOGCENTER_STREAMS = {**settings.LOGCENTER_STREAMS, "BACKOFF_BASE_SECONDS": 0.01,
                                  "BACKOFF_MAX_SECONDS": 0.05}


@pytest.fixture
def make_destination(staff):
    """A destination made through the service, as the console makes one."""

    def make(type, endpoint, credentials, *, user=None, kinds=("audit", "usage", "auth",
                                                               "system"), start=None,
             **values):
        values = {"name": values.pop("name", f"{type} test"), "type": type,
                  "endpoint": endpoint, "kinds": list(kinds), "batch_size": 500,
                  "interval_seconds": 0, **values}
        return services.destination_save(user or staff, values, credentials=credentials,
                                         start=start)

    return make
