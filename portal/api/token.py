"""POST /api/v1/auth/token/ and /api/v1/auth/logout/: issue an expiring API token, or revoke the caller's."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services.events import ctx
from portal.api.authentication import TokenAuthentication
from portal.errors import DomainError
from portal.throttling import SettingsScopedRateThrottle
from portal.tokens import token_issue, token_revoke


class TokenInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`; shown only once.")
    expiry = serializers.DateTimeField(allow_null=True, help_text="When the token stops working.")


class TokenView(APIView):
    """Exchange a username and password for an API token (throttled; failures audited and locked out)."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []
    throttle_classes = [SettingsScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(request=TokenInputSerializer, responses={200: TokenSerializer})
    def post(self, request: Request) -> Response:
        data = TokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request._request, **data.validated_data)
        if user is None or not user.is_active:
            raise DomainError("Unable to log in with those credentials.", code="invalid_credentials")
        token, expiry = token_issue(user=user, context=ctx(request))
        return Response({"token": token, "expiry": expiry})


class LogoutView(APIView):
    """Revoke the token that calls this (204); the token is refused (401) from then on."""

    authentication_classes = [TokenAuthentication]  # a session has its own /logout/
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        token_revoke(token=request.auth, actor=request.user, context=ctx(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
