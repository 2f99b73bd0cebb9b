from django.contrib.auth import views as auth_views
from django.urls import path

from . import bulk, callbacks, counts, macros, profile, reports, search, views

app_name = "console"

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="console/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("agent/", callbacks.my_callbacks, name="agent_home"),
    path("callbacks/<int:pk>/reveal/", callbacks.callback_reveal, name="callback_reveal"),
    path("callbacks/<int:pk>/complete/", callbacks.callback_complete, name="callback_complete"),
    path("tickets/new/", views.ticket_new, name="ticket_new"),
    path("tickets/matching/", search.ticket_matching, name="ticket_matching"),
    path("search/", search.search, name="search"),
    path("people/<slug:key>/<str:value>/", search.person, name="person"),
    path("tickets/<str:reference>/", views.ticket_detail, name="ticket_detail"),
    path("tickets/<str:reference>/reveal/", views.ticket_reveal, name="ticket_reveal"),
    path("tickets/<str:reference>/macros/apply/", macros.macro_apply, name="macro_apply"),
    path("tickets/<str:reference>/<slug:action>/", views.ticket_action, name="ticket_action"),
    path("tickets/<str:reference>/delegations/<int:pk>/reveal/", views.delegation_reveal, name="delegation_reveal"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment_download"),
    path("followups/<int:pk>/<slug:action>/", views.followup_action, name="followup_action"),
    path("ops/", views.ops_queue, name="ops_queue"),
    path("supervisor/", views.supervisor_queue, name="supervisor"),
    path("supervisor/export.csv", views.supervisor_export, name="supervisor_export"),
    path("supervisor/breaches.svg", views.supervisor_chart, name="supervisor_chart"),
    path("supervisor/messages/", views.dead_messages, name="dead_messages"),
    path("supervisor/reports/", reports.promise_report, name="promise_report"),
    path("supervisor/reports/export.csv", reports.promise_report_export, name="promise_report_export"),
    path("profile/", profile.profile, name="profile"),
    path("profile/digests/<int:pk>/cancel/", profile.digest_cancel, name="digest_cancel"),
    path("supervisor/messages/<int:pk>/retry/", views.dead_message_retry, name="dead_message_retry"),
    path("counts/", counts.nav_counts, name="nav_counts"),
    path("bulk/tickets/", bulk.bulk_tickets, name="bulk_tickets"),
    path("bulk/messages/", bulk.bulk_retry_messages, name="bulk_retry_messages"),
]
