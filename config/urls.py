from django.contrib import admin
from django.urls import include, path

from cstrack.observability import metrics_view

# On /api/ paths these answer problem+json; elsewhere Django's pages (tickets/api/fallbacks.py).
handler400 = "tickets.api.fallbacks.bad_request"
handler403 = "tickets.api.fallbacks.permission_denied"
handler500 = "tickets.api.fallbacks.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
    path("", include("notifications.urls")),  # provider report webhooks
    path("", include("tickets.api.urls")),  # /api/v1/..., /api/schema/, /api/docs/
    path("", include("tickets.console.urls")),  # the Korean web console
]
