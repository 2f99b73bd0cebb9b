"""API views: parse, call a service or selector, serialize. No rules here."""

from django.contrib.auth import get_user_model
from django.db.models import Max, OuterRef, Prefetch, Subquery
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from cstrack import calendar
from cstrack.errors import DomainValidationError, NotFound
from notifications.models import Message
from tickets import selectors, webhooks
from tickets.access import policy as access
from tickets.followups import changes as followup_changes
from tickets.lifecycle import services
from tickets.models import Attachment, Board, FollowUp, Ticket, TicketEvent, TicketKind, WebhookSubscription
from tickets.privacy import attachments as attachment_services
from tickets.privacy import consent, contact
from tickets.privacy import delegation as delegation_services

from . import serializers as s
from .auth import ApiClient, actor_for
from .base import ApiViewMixin, ApiViewSet, etag_for, if_match_version
from .examples import openapi_examples
from .filters import FollowUpFilter, MessageFilter, TicketFilter

User = get_user_model()


def _user_by_username(username, field="assignee"):
    if username is None:
        return None
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise DomainValidationError({field: ["해당 사용자를 찾을 수 없습니다."]})
    return user


def _valid(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- Tickets -------------------------------------------------------------------------------------


def _ticket_list_queryset():
    return (
        Ticket.objects.select_related("kind", "board", "assignee", "schema_version")
        .defer("customer_phone", "customer_email")
        .order_by("-received_at", "-id")
    )


TICKET_ACTION_RESPONSES = {200: s.TicketSerializer}


@extend_schema_view(
    list=extend_schema(summary="List tickets", tags=["tickets"]),
    retrieve=extend_schema(summary="A ticket with its follow-ups, events and re-contacts", tags=["tickets"]),
)
class TicketViewSet(mixins.ListModelMixin, ApiViewSet):
    lookup_field = "reference"
    lookup_value_regex = "[A-Za-z0-9-]+"
    serializer_class = s.TicketSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = TicketFilter
    policy_actions = {
        "list": "view_ticket",
        "retrieve": "view_ticket",
        "create": "create_ticket",
        "partial_update": "update_ticket",
        "transitions": "transition_ticket",
        "outcome": "record_outcome",
        "manager_confirmation": "confirm_manager",
        "coupon": "grant_coupon",
        "recontacts": "log_recontact",
        "assignment": "assign_ticket",
        "consent": "record_consent",
        "consent_withdrawal": "withdraw_consent",
        "contact_reveal": "reveal_contact",
        "attachments": "view_ticket",
        "attachment_upload": "add_attachment",
        "delegations": "view_ticket",
        "delegation_create": "record_delegation",
        "delegation_contact_number": "reveal_delegation_contact",
    }
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return access.visible_tickets(self.request.user, _ticket_list_queryset())

    def check_permissions(self, request):
        super().check_permissions(request)
        if self.action and self.lookup_field in self.kwargs:
            self.get_ticket()  # a ticket the caller may not see is a 404 before the body is read

    def get_ticket(self) -> Ticket:
        ticket = getattr(self, "_ticket", None)
        if ticket is None or ticket.reference != self.kwargs[self.lookup_field]:
            ticket = services.ticket_get(self.kwargs[self.lookup_field])
            self._ticket = access.ensure_visible(self.request.user, ticket)
        return self._ticket

    def _respond(self, ticket, status_code=status.HTTP_200_OK, serializer_class=None, **headers):
        ticket = services.ticket_get(ticket.pk)  # re-read: services may have moved it further
        data = (serializer_class or s.TicketSerializer)(ticket, context={"request": self.request}).data
        return Response(data, status=status_code, headers={"ETag": etag_for(ticket), **headers})

    def retrieve(self, request, *args, **kwargs):
        ticket = self.get_ticket()
        ticket = (
            Ticket.objects.select_related("kind", "board", "assignee", "schema_version")
            .prefetch_related(
                Prefetch("followups", FollowUp.objects.select_related("ticket", "policy")),
                Prefetch("events", TicketEvent.objects.order_by("at", "id")),
                "recontacts",
            )
            .get(pk=ticket.pk)
        )
        return Response(s.TicketDetailSerializer(ticket).data, headers={"ETag": etag_for(ticket)})

    @extend_schema(
        summary="Open a ticket",
        tags=["tickets"],
        request=s.TicketCreateSerializer,
        responses={201: s.TicketSerializer},
        examples=openapi_examples(),
    )
    def create(self, request, *args, **kwargs):
        data = dict(_valid(s.TicketCreateSerializer, request))
        if "assignee" in data:
            data["assignee"] = _user_by_username(data["assignee"])
        ticket = services.ticket_create(actor=actor_for(request.user), **data)
        # No re-read: the service returns the row as it wrote it (kind, board, schema attached).
        return Response(
            s.TicketSerializer(ticket, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
            headers={"ETag": etag_for(ticket), "Location": f"/api/v1/tickets/{ticket.reference}/"},
        )

    @extend_schema(
        summary="Change editable fields (If-Match required)",
        tags=["tickets"],
        request=s.TicketUpdateSerializer,
        responses={200: s.TicketSerializer},
    )
    def partial_update(self, request, *args, **kwargs):
        ticket = self.get_ticket()
        expected = if_match_version(request)
        if not isinstance(request.data, dict):
            raise DomainValidationError({"non_field_errors": ["JSON 객체를 보내 주세요."]})
        serializer = s.TicketUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        unknown = {k: request.data[k] for k in request.data if k not in s.TicketUpdateSerializer().fields}
        ticket = services.ticket_update(
            ticket, actor=actor_for(request.user), changes={**changes, **unknown}, expected_version=expected
        )
        return self._respond(ticket)

    @extend_schema(
        summary="Move to another status",
        tags=["ticket actions"],
        request=s.TransitionSerializer,
        responses=TICKET_ACTION_RESPONSES,
    )
    @action(detail=True, methods=["post"])
    def transitions(self, request, reference=None):
        data = _valid(s.TransitionSerializer, request)
        ticket = services.ticket_transition(
            self.get_ticket(), to_status=data["to_status"], note=data["note"], actor=actor_for(request.user)
        )
        return self._respond(ticket)

    @extend_schema(
        summary="Record the outcome",
        tags=["ticket actions"],
        request=s.OutcomeSerializer,
        responses=TICKET_ACTION_RESPONSES,
    )
    @action(detail=True, methods=["post"])
    def outcome(self, request, reference=None):
        data = _valid(s.OutcomeSerializer, request)
        ticket = services.ticket_record_outcome(self.get_ticket(), actor=actor_for(request.user), **data)
        return self._respond(ticket)

    @extend_schema(
        summary="Record the manager's confirmation",
        tags=["ticket actions"],
        request=s.ManagerConfirmationSerializer,
        responses=TICKET_ACTION_RESPONSES,
    )
    @action(detail=True, methods=["post"], url_path="manager-confirmation")
    def manager_confirmation(self, request, reference=None):
        data = _valid(s.ManagerConfirmationSerializer, request)
        ticket = services.ticket_confirm_manager(self.get_ticket(), actor=actor_for(request.user), **data)
        return self._respond(ticket)

    @extend_schema(
        summary="Grant the season-pass coupon (refused with 409 coupon_not_eligible if the rules say no)",
        tags=["ticket actions"],
        request=inline_serializer("CouponRequest", fields={}),
        responses=TICKET_ACTION_RESPONSES,
    )
    @action(detail=True, methods=["post"])
    def coupon(self, request, reference=None):
        ticket = services.ticket_grant_coupon(self.get_ticket(), actor=actor_for(request.user))
        return self._respond(ticket)

    @extend_schema(
        summary="Log a re-contact (schedules the call back)",
        tags=["ticket actions"],
        request=s.ReContactCreateSerializer,
        responses={201: s.ReContactSerializer},
    )
    @action(detail=True, methods=["post"])
    def recontacts(self, request, reference=None):
        data = _valid(s.ReContactCreateSerializer, request)
        recontact = services.ticket_log_recontact(self.get_ticket(), actor=actor_for(request.user), **data)
        return Response(s.ReContactSerializer(recontact).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Assign to a person and/or board",
        tags=["ticket actions"],
        request=s.AssignmentSerializer,
        responses=TICKET_ACTION_RESPONSES,
    )
    @action(detail=True, methods=["post"])
    def assignment(self, request, reference=None):
        data = _valid(s.AssignmentSerializer, request)
        if "assignee" not in data and "board" not in data:
            raise DomainValidationError({"assignee": ["담당자나 게시판 중 하나는 지정해 주세요."]})
        ticket = self.get_ticket()
        assignee = _user_by_username(data["assignee"]) if "assignee" in data else ticket.assignee
        board = None
        if "board" in data:
            board = Board.objects.filter(code=data["board"]).first()
            if board is None:
                raise DomainValidationError({"board": ["해당 게시판을 찾을 수 없습니다."]})
        ticket = services.ticket_assign(ticket, actor=actor_for(request.user), assignee=assignee, board=board)
        return self._respond(ticket)

    @extend_schema(
        summary="Record consent (and the contact it covers)",
        tags=["ticket actions"],
        request=s.ConsentSerializer,
        responses=TICKET_ACTION_RESPONSES,
    )
    @action(detail=True, methods=["post"])
    def consent(self, request, reference=None):
        data = _valid(s.ConsentSerializer, request)
        ticket = consent.ticket_record_consent(self.get_ticket(), actor=actor_for(request.user), **data)
        return self._respond(ticket)

    @extend_schema(
        summary="Withdraw consent (customer messages are cancelled)",
        tags=["ticket actions"],
        request=s.ConsentWithdrawalSerializer,
        responses=TICKET_ACTION_RESPONSES,
    )
    @action(detail=True, methods=["post"], url_path="consent-withdrawal")
    def consent_withdrawal(self, request, reference=None):
        data = _valid(s.ConsentWithdrawalSerializer, request)
        ticket = consent.ticket_withdraw_consent(self.get_ticket(), actor=actor_for(request.user), **data)
        return self._respond(ticket)

    @extend_schema(
        summary="Reveal the unmasked contact (console users with tickets.reveal_contact; audited)",
        tags=["ticket actions"],
        request=s.RevealSerializer,
        responses={200: s.RevealedContactSerializer},
    )
    @action(detail=True, methods=["post"], url_path="contact-reveal")
    def contact_reveal(self, request, reference=None):
        data = _valid(s.RevealSerializer, request)
        revealed = contact.ticket_reveal_contact(
            self.get_ticket(), actor=actor_for(request.user), reason=data["reason"]
        )
        body = {
            "customer_phone": revealed.pop("customer_phone", ""),
            "customer_email": revealed.pop("customer_email", ""),
            "personal_details": {k: str(v) for k, v in revealed.items()},
        }
        return Response(body, headers={"Cache-Control": "no-store"})

    # --- Attachments ------------------------------------------------------------------------------

    @extend_schema(
        summary="The ticket's attachments (metadata only)",
        tags=["attachments"],
        responses={200: s.AttachmentSerializer(many=True)},
    )
    # filter_backends=[]: a ticket's own lists take none of the ticket list's filters (nor state them).
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[], parser_classes=[MultiPartParser])
    def attachments(self, request, reference=None):
        ticket = self.get_ticket()
        rows = Attachment.objects.filter(ticket=ticket).select_related("ticket").order_by("uploaded_at", "id")
        return Response(s.AttachmentSerializer(rows, many=True).data)

    @extend_schema(
        summary="Attach a file (multipart, field `file`; type checked by content, stored encrypted)",
        tags=["attachments"],
        request={"multipart/form-data": s.AttachmentUploadSerializer},
        responses={201: s.AttachmentSerializer},
    )
    @attachments.mapping.post
    def attachment_upload(self, request, reference=None):
        data = _valid(s.AttachmentUploadSerializer, request)
        upload = data["file"]
        attachment = attachment_services.attachment_add(
            self.get_ticket(), actor=actor_for(request.user), name=upload.name or "", content=upload
        )
        return Response(
            s.AttachmentSerializer(attachment).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": f"/api/v1/attachments/{attachment.pk}/"},
        )

    # --- Third-party delegation ------------------------------------------------------------------

    @extend_schema(
        summary="Third-party delegations recorded on the ticket (numbers masked)",
        tags=["delegations"],
        responses={200: s.DelegationSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def delegations(self, request, reference=None):
        ticket = self.get_ticket()
        return Response(s.DelegationSerializer(ticket.delegations.order_by("recorded_at", "id"), many=True).data)

    @extend_schema(
        summary="Record the caller's delegation to talk to a third party (non-members need consent)",
        tags=["delegations"],
        request=s.DelegationCreateSerializer,
        responses={201: s.DelegationSerializer},
    )
    @delegations.mapping.post
    def delegation_create(self, request, reference=None):
        data = _valid(s.DelegationCreateSerializer, request)
        delegation = delegation_services.delegation_record(self.get_ticket(), actor=actor_for(request.user), **data)
        return Response(s.DelegationSerializer(delegation).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="The third party's number, through an active delegation (tickets.reveal_contact; audited)",
        tags=["delegations"],
        request=s.RevealSerializer,
        responses={200: s.DelegationContactSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"delegations/(?P<delegation_id>[0-9]+)/contact-number",
        url_name="delegation-contact-number",
    )
    def delegation_contact_number(self, request, reference=None, delegation_id=None):
        data = _valid(s.RevealSerializer, request)
        ticket = self.get_ticket()
        delegation = delegation_services.delegation_get(ticket, delegation_id)
        phone = delegation_services.delegation_contact_number(
            ticket, delegation, actor=actor_for(request.user), reason=data["reason"]
        )
        return Response(
            {"delegation": delegation.pk, "third_party_phone": phone}, headers={"Cache-Control": "no-store"}
        )


# --- Attachments ---------------------------------------------------------------------------------

DOWNLOAD_MEDIA = ["application/pdf", "image/png", "image/jpeg", "application/zip"]


@extend_schema_view(retrieve=extend_schema(summary="One attachment (metadata)", tags=["attachments"]))
class AttachmentViewSet(ApiViewSet):
    """Metadata for anyone who can see the ticket; the content for console users with
    tickets.download_attachment only (API keys never hold it). Every download is audited."""

    serializer_class = s.AttachmentSerializer
    lookup_value_regex = "[0-9]+"
    pagination_class = None
    policy_actions = {"retrieve": "view_ticket", "content": "download_attachment"}

    def get_attachment(self) -> Attachment:
        return access.ensure_visible(self.request.user, attachment_services.attachment_get(self.kwargs["pk"]))

    def perform_content_negotiation(self, request, force=False):
        # The file's own type is the answer whatever Accept says; errors are problem+json.
        return super().perform_content_negotiation(request, force=True)

    def retrieve(self, request, pk=None):
        return Response(s.AttachmentSerializer(self.get_attachment()).data)

    @extend_schema(
        summary="Download the file (decrypted; console users with tickets.download_attachment; audited)",
        tags=["attachments"],
        responses={(200, media): OpenApiTypes.BINARY for media in DOWNLOAD_MEDIA},
    )
    @action(detail=True, methods=["get"])
    def content(self, request, pk=None):
        opened = attachment_services.attachment_open(self.get_attachment(), actor=actor_for(request.user))
        return opened.as_download()


# --- Kinds ---------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Ticket kinds with their JSON Schema and an example request", tags=["kinds"]),
    retrieve=extend_schema(summary="One kind", tags=["kinds"]),
)
class KindViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = s.KindSerializer
    lookup_field = "code"
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    pagination_class = None
    policy_actions = {"list": "view_kind", "retrieve": "view_kind"}

    def get_queryset(self):
        qs = (
            TicketKind.objects.filter(active=True)
            .select_related("default_board")
            .prefetch_related("schema_versions")
            .annotate(schema_version=Max("schema_versions__version"))
            .order_by("sort_order", "code")
        )
        return access.visible_kinds(self.request.user, qs)


# --- Follow-ups ----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Follow-ups (promised duties)", tags=["followups"]),
    retrieve=extend_schema(summary="One follow-up", tags=["followups"]),
)
class FollowUpViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = s.FollowUpSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = FollowUpFilter
    ordering = ("due_at", "id")
    policy_actions = {
        "list": "view_followup",
        "retrieve": "view_followup",
        "reschedule": "reschedule_followup",
        "cancel": "cancel_followup",
        "completion": "complete_followup",
    }

    def get_queryset(self):
        qs = FollowUp.objects.filter(ticket__isnull=False)  # not the staff's morning digests
        qs = qs.select_related("ticket", "policy").order_by("due_at", "id")
        return access.visible_followups(self.request.user, qs)

    def paginate_queryset(self, queryset):
        self.paginator.ordering = self.ordering
        return super().paginate_queryset(queryset)

    def check_permissions(self, request):
        super().check_permissions(request)
        if self.action and "pk" in self.kwargs:
            self.get_followup()  # a follow-up the caller may not see is a 404 before the body is read

    def get_followup(self):
        raw = self.kwargs["pk"]
        if not str(raw).isdigit():
            raise NotFound("후속 조치를 찾을 수 없습니다.")
        fu = self.get_queryset().filter(pk=int(raw)).first()
        if fu is None:
            raise NotFound("후속 조치를 찾을 수 없습니다.")
        return fu

    def retrieve(self, request, *args, **kwargs):
        return Response(s.FollowUpSerializer(self.get_followup()).data)

    @extend_schema(
        summary="Move a follow-up (reason required)",
        tags=["followups"],
        request=s.RescheduleSerializer,
        responses={200: s.FollowUpSerializer},
    )
    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        data = _valid(s.RescheduleSerializer, request)
        fu = followup_changes.followup_reschedule(self.get_followup(), actor=actor_for(request.user), **data)
        return Response(s.FollowUpSerializer(fu).data)

    @extend_schema(
        summary="Cancel a follow-up (reason required)",
        tags=["followups"],
        request=s.ReasonSerializer,
        responses={200: s.FollowUpSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        data = _valid(s.ReasonSerializer, request)
        fu = followup_changes.followup_cancel(self.get_followup(), actor=actor_for(request.user), **data)
        return Response(s.FollowUpSerializer(fu).data)

    @extend_schema(
        summary="Mark a call back done",
        tags=["followups"],
        request=s.CompletionSerializer,
        responses={200: s.FollowUpSerializer},
    )
    @action(detail=True, methods=["post"])
    def completion(self, request, pk=None):
        data = _valid(s.CompletionSerializer, request)
        fu = followup_changes.followup_complete(self.get_followup(), actor=actor_for(request.user), **data)
        return Response(s.FollowUpSerializer(fu).data)


# --- Messages ------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Delivery log (recipients masked)", tags=["messages"]),
    retrieve=extend_schema(summary="One message", tags=["messages"]),
)
class MessageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = s.MessageSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = MessageFilter
    lookup_value_regex = "[0-9]+"
    policy_actions = {"list": "view_message", "retrieve": "view_message"}

    def get_queryset(self):
        reference = FollowUp.objects.filter(message=OuterRef("pk")).values("ticket__reference")[:1]
        qs = (
            Message.objects.select_related("template")
            .defer("recipient")
            .annotate(ticket_reference=Subquery(reference))
            .order_by("-id")
        )
        return access.visible_messages(self.request.user, qs)


# --- Queues --------------------------------------------------------------------------------------


PAGING_PARAMS = {"cursor", "page_size"}


class OverduePagination(ApiViewMixin.pagination_class):
    ordering = ("received_at", "id")

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data["summary"] = s.OverdueSummarySerializer(self.summary).data
        return response

    def get_paginated_response_schema(self, schema):
        result = super().get_paginated_response_schema(schema)
        result["properties"]["summary"] = {"$ref": "#/components/schemas/OverdueSummary"}
        result["required"].append("summary")
        return result


# The page's rows are plain values read by id: only the columns the queue's rows show.
OVERDUE_COLUMNS = s.value_columns(s.OverdueTicketSerializer)


@extend_schema_view(
    list=extend_schema(
        summary="Overdue and breached tickets, with counts by kind, board and age",
        description="Each row is a queue row (`OverdueTicket`), not the whole ticket: read "
        "`GET /api/v1/tickets/{reference}/` for its details, follow-ups and allowed transitions.",
        tags=["queues"],
    ),
)
class OverdueQueueViewSet(mixins.ListModelMixin, ApiViewSet):
    serializer_class = s.OverdueTicketSerializer
    pagination_class = OverduePagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = TicketFilter
    policy_actions = {"list": "view_ticket"}

    def get_queryset(self):
        # Narrow on purpose: the page is chosen from an index alone (ticket_open_received: in
        # receipt order, stopping after a page); list() then reads that page's rows in full.
        qs = selectors.overdue_tickets(calendar.now()).select_related(None).only("id", "received_at")
        return access.visible_tickets(self.request.user, qs)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        rows = selectors.overdue_rows([ticket.pk for ticket in page], OVERDUE_COLUMNS)
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)

    def paginate_queryset(self, queryset):
        now, shared = calendar.now(), None
        if access.is_unrestricted(self.request.user) and not set(self.request.query_params) - PAGING_PARAMS:
            shared = selectors.overdue_summary_shared(now)  # the whole queue: the shared rollup
        self.paginator.summary = shared or selectors.overdue_summary(queryset, now)
        return super().paginate_queryset(queryset)


# --- Webhook subscriptions ------------------------------------------------------------------------


class WebhookPermissionMixin:
    """An integration manages its own subscriptions (write scope); administrators manage all."""

    def get_queryset(self):
        qs = WebhookSubscription.objects.select_related("api_key").order_by("id")
        return access.visible_subscriptions(self.request.user, qs)


@extend_schema_view(
    list=extend_schema(summary="Your webhook subscriptions", tags=["webhooks"]),
    retrieve=extend_schema(summary="One subscription", tags=["webhooks"]),
)
class WebhookSubscriptionViewSet(WebhookPermissionMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = s.WebhookSubscriptionSerializer
    lookup_value_regex = "[0-9]+"
    http_method_names = ["get", "post", "delete", "head", "options"]
    policy_actions = {
        "list": "view_webhooks",
        "retrieve": "view_webhooks",
        "create": "manage_webhooks",
        "destroy": "manage_webhooks",
        "rotate_secret": "manage_webhooks",
    }

    @extend_schema(
        summary="Subscribe to ticket events (the signing secret is shown once)",
        tags=["webhooks"],
        request=s.WebhookSubscriptionCreateSerializer,
        responses={201: s.WebhookSubscriptionSecretSerializer},
    )
    def create(self, request, *args, **kwargs):
        is_integration = isinstance(request.user, ApiClient)
        data = _valid(s.WebhookSubscriptionCreateSerializer, request)
        key = request.user.key if is_integration else None
        sub = webhooks.subscription_create(api_key=key, **data)
        return Response(s.WebhookSubscriptionSecretSerializer(sub).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Deactivate a subscription", tags=["webhooks"], responses={204: OpenApiResponse(description="Done")}
    )
    def destroy(self, request, *args, **kwargs):
        webhooks.subscription_deactivate(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Rotate the signing secret (the previous one stays valid for 24 h)",
        tags=["webhooks"],
        request=inline_serializer("EmptyRequest", fields={}),
        responses={200: s.WebhookSubscriptionSecretSerializer},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        sub = webhooks.subscription_rotate_secret(self.get_object())
        return Response(s.WebhookSubscriptionSecretSerializer(sub).data)


__all__ = [
    "AttachmentViewSet",
    "FollowUpViewSet",
    "KindViewSet",
    "MessageViewSet",
    "OverdueQueueViewSet",
    "TicketViewSet",
    "WebhookSubscriptionViewSet",
    "serializers",
]
