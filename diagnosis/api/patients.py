"""Patients on the API: search by MRN, create, and open one (opening is audited)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services.events import audit_view, ctx
from diagnosis import selectors
from diagnosis.api import serializers as s
from diagnosis.services.patients import patient_get_or_create
from portal.api import permissions
from portal.api.audited import AuditedListMixin
from portal.api.schema import query_param

PATIENT_FILTERS = [
    query_param("mrn", "Exact MRN."),
    query_param("q", "MRN or name contains, or a visible study's accession number contains (any case)."),
]


@extend_schema_view(get=extend_schema(parameters=PATIENT_FILTERS))
class PatientListCreateView(AuditedListMixin, generics.ListAPIView):
    """Search patients by MRN (?mrn= exact, ?q= name, MRN or accession contains), or create one."""

    serializer_class = s.PatientSerializer
    audit_action, audit_object_type = "patient.list", "patient"

    def get_permissions(self) -> list[Any]:
        return [permissions.Uploader()] if self.request.method == "POST" else [permissions.AnyRole()]

    def get_queryset(self) -> Any:
        params = self.request.query_params
        return selectors.patient_list(
            user=self.request.user, mrn=params.get("mrn", ""), query=params.get("q", ""), accession=True
        )

    @extend_schema(
        request=s.PatientInputSerializer, responses={201: s.PatientSerializer, 200: s.PatientSerializer}
    )
    def post(self, request: Request) -> Response:
        """201 with a new record in your scope; 200 with the one your scope already has for this MRN."""
        form = s.PatientInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        patient, created = patient_get_or_create(
            user=request.user, context=ctx(request), **form.validated_data
        )
        if not created:  # the existing record is shown: a read (a new one is audited as patient.create)
            _audit_patient_view(request, patient)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.PatientSerializer(patient).data, status=code)


def _audit_patient_view(request: Request, patient: Any) -> None:
    audit_view(request=request, action="patient.view", object_type="patient", object_id=patient.id)


class PatientDetailView(APIView):
    """One patient you may see."""

    permission_classes = [permissions.AnyRole]

    @extend_schema(responses=s.PatientSerializer)
    def get(self, request: Request, pk: Any) -> Response:
        patient = selectors.patient_get(user=request.user, patient_id=pk)
        _audit_patient_view(request, patient)
        return Response(s.PatientSerializer(patient).data)
