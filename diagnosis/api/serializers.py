"""Wire formats. Output serializers read selector results; input serializers only validate."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import ReturnDict

from diagnosis.ages import study_age
from diagnosis.hooks import result_deliveries, result_deliveries_prefetch
from diagnosis.models import MRN_MESSAGE, MRN_PATTERN, Image, Patient, Prediction, Study
from diagnosis.selectors import current_prediction
from integrations.models import Hl7Delivery
from integrations.selectors import ehr_deliveries, ehr_deliveries_prefetch
from modelops.models import OperatingProfile
from reading.api.serializers import FinalReadSerializer, ReviewSerializer
from reading.selectors import current_review, final_read_for, review_history
from reading.services.claims import reading_claim_holder


class PatientSerializer(serializers.ModelSerializer):
    # Records are per scope: readers who see every department tell two records of one MRN apart by this.
    department = serializers.CharField(
        source="department.name", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = Patient
        fields = ["id", "mrn", "name", "birth_date", "sex", "department", "created_at"]
        read_only_fields = ["id", "created_at"]


class PatientInputSerializer(serializers.Serializer):
    """A new patient record (created in the caller's scope)."""

    mrn = serializers.RegexField(MRN_PATTERN, max_length=64, error_messages={"invalid": MRN_MESSAGE})
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    birth_date = serializers.DateField(required=False, allow_null=True, default=None)
    sex = serializers.ChoiceField(Patient.Sex.choices, required=False, allow_blank=True, default="")
    confirm_patient = serializers.BooleanField(
        required=False,
        default=False,
        help_text="After a 409 patient_conflict: file under the existing record although the entered name or "
        "birth date differs (audited; the record on file is not changed).",
    )


class OperatingProfileBriefSerializer(serializers.ModelSerializer):
    """The site operating profile that labelled a prediction (docs/MODEL_BUNDLE.md, operating profiles)."""

    indeterminate_band = serializers.SerializerMethodField()

    class Meta:
        model = OperatingProfile
        fields = ["id", "source", "temperature", "bias", "threshold", "indeterminate_band", "created_at"]

    @extend_schema_field(serializers.ListField(child=serializers.FloatField()))
    def get_indeterminate_band(self, obj: OperatingProfile) -> list[float]:
        return [obj.indeterminate_low, obj.indeterminate_high]


class PredictionSerializer(serializers.ModelSerializer):
    heatmap_url = serializers.SerializerMethodField()
    operating_profile = OperatingProfileBriefSerializer(
        read_only=True,
        allow_null=True,
        help_text="The operating profile (calibration, threshold, band) that produced the label; null for "
        "predictions made before profiles existed.",
    )

    class Meta:
        model = Prediction
        fields = [
            "id",
            "probability",
            "label",
            "confidence",
            "threshold",
            "indeterminate",
            "model_version",
            "operating_profile",
            "run_number",
            "flags",
            "gate_score",
            "heatmap_url",
            "decode_ms",
            "model_ms",
            "heatmap_ms",
            "total_ms",
            "turnaround_seconds",
            "created_at",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_heatmap_url(self, obj: Prediction) -> str | None:
        if not obj.heatmap:
            return None
        return reverse("api-study-heatmap", kwargs={"pk": obj.study_id}) + f"?prediction={obj.id}"


class StudyImageSerializer(serializers.ModelSerializer):
    filename = serializers.CharField(source="original_filename")
    url = serializers.SerializerMethodField()
    patient_check = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
            "id",
            "filename",
            "sha256",
            "width",
            "height",
            "format",
            "size_bytes",
            "url",
            "patient_check",
        ]

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_patient_check(self, obj: Image) -> dict[str, Any] | None:
        """DICOM only: whether the header's patient_id, name and birth_date match the study's patient."""
        return (obj.meta or {}).get("patient_check")

    def get_url(self, obj: Image) -> str:
        return reverse("api-study-image-item", kwargs={"pk": obj.study_id, "image_id": obj.id})


class EhrDeliverySerializer(serializers.Serializer):
    """One HL7 ORU^R01 delivery of the study to the EHR (docs/INTEGRATION.md)."""

    id = serializers.IntegerField()
    event = serializers.ChoiceField(Hl7Delivery.Event.choices)
    status = serializers.ChoiceField(Hl7Delivery.State.choices)
    attempts = serializers.IntegerField()
    last_error = serializers.CharField(allow_blank=True)
    control_id = serializers.CharField(help_text="MSH-10, kept across retries.")
    updated_at = serializers.DateTimeField(help_text="When it was delivered, else when it was queued.")


class DicomDeliverySerializer(serializers.Serializer):
    """One result object sent back to a DICOM node (PACS) into the original study (docs/DICOM.md)."""

    id = serializers.IntegerField()
    destination = serializers.CharField(help_text="The outbound node's name.")
    destination_address = serializers.CharField(help_text="AE@host:port, or the DICOMweb URL.")
    kind = serializers.ChoiceField(
        [("sr", "AI structured report"), ("sc", "Heatmap secondary capture"), ("review_sr", "Read SR")]
    )
    status = serializers.ChoiceField(
        [("pending", "Pending"), ("delivered", "Delivered"), ("failed", "Failed")]
    )
    attempts = serializers.IntegerField()
    last_error = serializers.CharField(allow_blank=True)
    sop_instance_uid = serializers.CharField(
        help_text="Derived from the study and the record: a resend is the same."
    )
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)


class StudyListSerializer(serializers.ListSerializer):
    """Loads every study's EHR and DICOM deliveries in one query each for the whole page."""

    def to_representation(self, data: Any) -> list[Any]:
        studies = list(data.all() if hasattr(data, "all") else data)
        ehr_deliveries_prefetch(studies)
        result_deliveries_prefetch(studies)
        return super().to_representation(studies)


class StudySerializer(serializers.ModelSerializer):
    patient = PatientSerializer(read_only=True)
    prediction = serializers.SerializerMethodField()
    review = serializers.SerializerMethodField()
    reviews = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    reason = serializers.SerializerMethodField()
    image = serializers.SerializerMethodField()
    images = serializers.SerializerMethodField()
    duplicate_of = serializers.UUIDField(source="duplicate_of_id", read_only=True, allow_null=True)
    warnings = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Wrong-patient warnings: dicom_patient_mismatch, patient_details_differ_confirmed.",
    )
    claimed_by = serializers.SerializerMethodField()
    patient_age_at_study = serializers.SerializerMethodField()
    final_read = serializers.SerializerMethodField()
    ehr_deliveries = serializers.SerializerMethodField()
    deliveries = serializers.SerializerMethodField()

    class Meta:
        model = Study
        list_serializer_class = StudyListSerializer
        fields = [
            "id",
            "status",
            "patient",
            "priority",
            "accession_number",
            "study_date",
            "patient_age_at_study",
            "clinical_notes",
            "source",
            "study_instance_uid",
            "created_at",
            "updated_at",
            "completed_at",
            "error_code",
            "error",
            "reason",
            "duplicate_of",
            "warnings",
            "image",
            "images",
            "final_read",
            "prediction",
            "review",
            "reviews",
            "claimed_by",
            "reading_claim_expires_at",
            "ehr_deliveries",
            "deliveries",
        ]

    def get_patient_age_at_study(self, obj: Study) -> str | None:
        """The patient's age on the study date (else the upload day): "12 d", "14 mo", "5 y"; null unknown."""
        return study_age(obj) or None

    @extend_schema_field(EhrDeliverySerializer(many=True))
    def get_ehr_deliveries(self, obj: Study) -> list[dict[str, Any]]:
        """HL7 result deliveries to the EHR, oldest first; empty when HL7 output is off."""
        return EhrDeliverySerializer(ehr_deliveries(obj), many=True).data

    @extend_schema_field(DicomDeliverySerializer(many=True))
    def get_deliveries(self, obj: Study) -> list[dict[str, Any]]:
        """Result objects (AI SR, heatmap capture, read SR) sent to DICOM nodes, oldest first."""
        return DicomDeliverySerializer(result_deliveries(obj), many=True).data

    @extend_schema_field(FinalReadSerializer(allow_null=True))
    def get_final_read(self, obj: Study) -> dict[str, Any] | None:
        """The current signed read (label, decision, reason, reader, signed_at, version) or null."""
        read = final_read_for(obj)
        return FinalReadSerializer(read.as_dict()).data if read else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_claimed_by(self, obj: Study) -> str | None:
        """The holder of a live reading claim; an expired claim shows as none."""
        holder = reading_claim_holder(obj)
        return holder.get_username() if holder else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_error(self, obj: Study) -> str | None:
        return obj.status_reason if obj.status == Study.Status.FAILED else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_reason(self, obj: Study) -> str | None:
        return obj.status_reason if obj.status in (Study.Status.REJECTED, Study.Status.CANCELLED) else None

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_image(self, obj: Study) -> dict[str, Any] | None:
        image = next(iter(obj.images.all()), None)
        if image is None:
            return None
        return {
            "id": str(image.id),
            "filename": image.original_filename,
            "sha256": image.sha256,
            "width": image.width,
            "height": image.height,
            "format": image.format,
            "size_bytes": image.size_bytes,
            "meta": image.meta,
            "url": reverse("api-study-image", kwargs={"pk": obj.id}),
        }

    @extend_schema_field(StudyImageSerializer(many=True))
    def get_images(self, obj: Study) -> list[dict[str, Any]]:
        """Every image of the study in upload order; the first is the one the model analyses."""
        return _IMAGE_LIST.to_representation(obj.images.all())

    @extend_schema_field(PredictionSerializer(allow_null=True))
    def get_prediction(self, obj: Study) -> dict[str, Any] | None:
        prediction = current_prediction(obj)
        return PredictionSerializer(prediction).data if prediction else None

    @extend_schema_field(ReviewSerializer(allow_null=True))
    def get_review(self, obj: Study) -> dict[str, Any] | None:
        review = current_review(obj)
        return ReviewSerializer(review).data if review else None

    @extend_schema_field(ReviewSerializer(many=True))
    def get_reviews(self, obj: Study) -> list[dict[str, Any]]:
        return ReviewSerializer(review_history(obj), many=True).data


# Built once per process and only asked for representations (no per-call state is kept on them): a
# serializer builds its fields, deep copies and all, on every instantiation, which was two thirds of the
# 1.25 ms each study answer cost (0.45 ms now, in process; bench/load.py, session 5).
_IMAGE_LIST = StudyImageSerializer(many=True)
_STUDY = StudySerializer()


def study_data(study: Study) -> Any:
    """A study as the API answers it: exactly StudySerializer(study).data, without building the fields."""
    # The instance stays attached, as .data leaves it, for the browsable API's forms.
    return ReturnDict(_STUDY.to_representation(study), serializer=StudySerializer(study))


class StudyUploadSerializer(serializers.Serializer):
    # Empty files reach the decoder, which answers with the same `empty_file` code as every other path.
    image = serializers.FileField(
        allow_empty_file=True, help_text="The frontal view: the image the model analyses."
    )
    images = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),
        required=False,
        max_length=3,
        help_text="Up to 3 further views (e.g. lateral), stored beside the first and not analysed by the model.",
    )
    patient_mrn = serializers.RegexField(MRN_PATTERN, max_length=64, error_messages={"invalid": MRN_MESSAGE})
    patient_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    patient_birth_date = serializers.DateField(required=False, allow_null=True, default=None)
    patient_sex = serializers.ChoiceField(Patient.Sex.choices, required=False, allow_blank=True, default="")
    accession_number = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    study_date = serializers.DateField(required=False, allow_null=True, default=None)
    clinical_notes = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    priority = serializers.ChoiceField(Study.Priority.choices, required=False, default=Study.Priority.ROUTINE)
    confirm_patient = serializers.BooleanField(
        required=False,
        default=False,
        help_text="After a 409 patient_conflict: file under the existing record although the entered name or "
        "birth date differs (audited; the record on file is not changed).",
    )
