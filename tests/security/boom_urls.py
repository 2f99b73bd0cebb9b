"""The project's URLs plus one view that fails with personal data in its exception (a 5xx path
for the log tests)."""

from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import handler400, handler403, handler500  # noqa: F401 (looked up on this module)
from config.urls import urlpatterns as project_urlpatterns


@csrf_exempt
def boom(request):
    raise ValueError(f"lookup failed for {request.GET.get('phone', '')} / {request.body.decode(errors='replace')}")


urlpatterns = [path("boom/", boom), path("api/boom/", boom), *project_urlpatterns]
