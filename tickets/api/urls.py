"""/api/v1/... (the API), /api/schema/ (OpenAPI 3), /api/docs/ (Swagger UI)."""

from csp.decorators import csp_exempt
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from . import reports, views
from .schema_views import not_found

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
# No ".json" suffix routes: one representation, and a suffix on a detail route was a 500.
router.include_format_suffixes = False
router.register("tickets", views.TicketViewSet, basename="api-ticket")
router.register("kinds", views.KindViewSet, basename="api-kind")
router.register("followups", views.FollowUpViewSet, basename="api-followup")
router.register("messages", views.MessageViewSet, basename="api-message")
router.register("queues/overdue", views.OverdueQueueViewSet, basename="api-queue-overdue")
router.register("webhooks", views.WebhookSubscriptionViewSet, basename="api-webhook")
router.register("attachments", views.AttachmentViewSet, basename="api-attachment")

urlpatterns = [
    path("api/v1/", include(router.urls)),
    path("api/v1/reports/", include(reports.urlpatterns)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI loads its scripts from a CDN: the one page without the console's CSP.
    path("api/docs/", csp_exempt()(SpectacularSwaggerView.as_view(url_name="api-schema")), name="api-docs"),
    re_path(r"^api/", not_found),  # a prefix: `.*$` missed paths with a newline (%0A) -> HTML 404
]
