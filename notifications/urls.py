from django.urls import path

from . import views

app_name = "notifications"
urlpatterns = [
    path("hooks/solapi/reports/", views.solapi_reports, name="solapi_reports"),
]
