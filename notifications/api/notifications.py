"""The user's notifications on the API: the list (with the unread count) and marking one read."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services.events import audit_read, ctx
from notifications.models import Kind, Notification
from notifications.selectors import notification_get, notification_list, unread_count
from notifications.services.notifications import notification_mark_read
from portal.api import permissions


class NotificationSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=Kind.choices, read_only=True)
    study = serializers.UUIDField(source="study_id", read_only=True)

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "study", "created_at", "read_at"]
        read_only_fields = fields


class NotificationListView(generics.ListAPIView):
    """Your own notifications, newest first; `?unread=true` for the unread ones only."""

    permission_classes = [permissions.AnyRole]
    serializer_class = NotificationSerializer

    def get_queryset(self) -> Any:
        unread = self.request.query_params.get("unread", "").lower() in ("1", "true", "yes")
        return notification_list(user=self.request.user, unread_only=unread)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().list(request, *args, **kwargs)
        ids = sorted({str(row["study"]) for row in response.data["results"]})
        audit_read(
            actor=request.user, action="notification.list", object_type="study", ids=ids, context=ctx(request)
        )
        response["X-Unread-Count"] = str(unread_count(user=request.user))
        return response


class NotificationReadView(APIView):
    """Mark one of your notifications read (someone else's answers 404)."""

    permission_classes = [permissions.AnyRole]

    @extend_schema(request=None, responses={200: NotificationSerializer})
    def post(self, request: Request, notification_id: int) -> Response:
        notification = notification_get(user=request.user, notification_id=notification_id)
        return Response(
            NotificationSerializer(notification_mark_read(user=request.user, notification=notification)).data
        )
