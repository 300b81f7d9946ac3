"""The password-reset email: Django's token generator, a link into Django's reset-confirm view."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from sso.local_login import password_refusal


def password_reset_link(*, user: User, base_url: str) -> str:
    """A link that sets the user's password once (the token dies with any password change or login)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return base_url.rstrip("/") + reverse("password-reset-confirm", kwargs={"uidb64": uid, "token": token})


def password_reset_email(*, user_id: int, base_url: str) -> bool:
    """Send the link to an active user with an address; False when there is none to send."""
    user = User.objects.filter(pk=user_id, is_active=True).exclude(email="").first()
    if user is None:
        return False
    lines = [
        f"Hello {user.get_full_name() or user.get_username()},",
        "",
        "An Airspace administrator sent you this link to set your password:",
        password_reset_link(user=user, base_url=base_url),
        "",
        f"Your username is {user.get_username()}. The link works once and expires in a few days.",
        "If you did not expect it, tell your administrator.",
    ]
    refusal = password_refusal(user)  # read when sending: the policy or the roles may have changed since
    if refusal:
        lines[2:2] = ["Note: a password will not sign you in today. " + refusal, ""]
    body = "\n".join(lines)
    send_mail("Airspace: set your password", body, None, [user.email], fail_silently=False)
    return True
