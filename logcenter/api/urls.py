from rest_framework.routers import DefaultRouter

from .views import register_routes

router = DefaultRouter()
register_routes(router)

urlpatterns = router.urls
