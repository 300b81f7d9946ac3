"""User management for admins: list, create, edit (roles, department), deactivate, reactivate, reset link."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.services.events import ctx
from portal.errors import DomainError
from portal.forms import UserForm
from portal.query_params import bool_param, choice_param, int_param
from portal.roles import Role, role_required
from portal.selectors import user_get, user_list, user_roles
from portal.services import users as services
from sso.local_login import password_refusal


def _fields(data: dict[str, Any]) -> services.UserFields:
    return services.UserFields(
        first_name=data["first_name"],
        last_name=data["last_name"],
        email=data["email"],
        roles=tuple(data["roles"]),
        department=data["department"],
    )


def _form_errors(form: UserForm, exc: DomainError) -> None:
    for name, problems in exc.fields.items():
        for problem in problems:
            form.add_error(name if name in form.fields else None, problem)
    if not exc.fields:
        form.add_error(None, exc.message)


@role_required(Role.ADMIN)
@require_GET
def users_page(request: HttpRequest) -> HttpResponse:
    """Every account, 50 a page, searchable by name or email and filtered by role and state."""
    try:
        params = {
            "q": request.GET.get("q", "").strip()[:100],
            "role": choice_param(request.GET, "role", Role.values),
            "active": bool_param(request.GET, "active"),
        }
    except DomainError as exc:
        messages.error(request, exc.message)
        params = {"q": "", "role": "", "active": None}
    accounts = user_list(query=params["q"], role=params["role"], active=params["active"])
    page = Paginator(accounts, 50).get_page(int_param(request.GET, "page") or 1)
    rows = [{"account": u, "roles": user_roles(u)} for u in page.object_list]
    context = {"page": page, "rows": rows, "params": {k: v for k, v in params.items() if v not in ("", None)}}
    return render(request, "portal/users.html", {**context, "roles": Role.choices})


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    """A new account; the admin can then send it a link to set its password."""
    form = UserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            account = services.user_create(
                actor=request.user, username=data["username"], fields=_fields(data), context=ctx(request)
            )
        except DomainError as exc:
            _form_errors(form, exc)
        else:
            refusal = password_refusal(account)
            messages.success(
                request, f"Created {account.username}. " + (refusal or "Send them a link to set a password.")
            )
            return redirect("user-edit", pk=account.pk)
    return render(request, "portal/user_form.html", {"form": form, "account": None}, status=_status(form))


def _status(form: UserForm) -> int:
    return 400 if form.is_bound and form.errors else 200


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Name, email, roles and department of one account, with its deactivate and reset-link actions."""
    account = user_get(user_id=pk)
    initial = {
        "first_name": account.first_name,
        "last_name": account.last_name,
        "email": account.email,
        "roles": user_roles(account),
        "department": getattr(getattr(account, "profile", None), "department", None),
    }
    form = UserForm(request.POST or None, initial=initial, creating=False)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(
                actor=request.user, user=account, fields=_fields(form.cleaned_data), context=ctx(request)
            )
        except DomainError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, f"Saved {account.username}.")
            return redirect("user-edit", pk=account.pk)
    context = {
        "form": form,
        "account": account,
        "roles_held": user_roles(account),
        "password_refusal": password_refusal(account),
    }
    return render(request, "portal/user_form.html", context, status=_status(form))


def _act(request: HttpRequest, pk: int, action: Any, done: str) -> HttpResponse:
    account = user_get(user_id=pk)
    try:
        action(account)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done.format(account.username))
    return redirect("user-edit", pk=account.pk)


@role_required(Role.ADMIN)
@require_POST
def user_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    """No more sign-in, sessions or API tokens for this account."""
    act = lambda u: services.user_deactivate(actor=request.user, user=u, context=ctx(request))  # noqa: E731
    return _act(request, pk, act, "Deactivated {}: their sessions and API tokens no longer work.")


@role_required(Role.ADMIN)
@require_POST
def user_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    """The account may sign in again."""
    act = lambda u: services.user_reactivate(actor=request.user, user=u, context=ctx(request))  # noqa: E731
    return _act(request, pk, act, "Reactivated {}.")


@role_required(Role.ADMIN)
@require_POST
def user_password_reset(request: HttpRequest, pk: int) -> HttpResponse:
    """Email the account a link to set its password (sent by a worker)."""
    base_url = request.build_absolute_uri("/")

    def act(u: Any) -> None:
        services.password_reset_send(actor=request.user, user=u, base_url=base_url, context=ctx(request))
        refusal = password_refusal(u)  # sent all the same: the admin may be about to make it an admin
        if refusal:
            messages.warning(request, f"The link will not let {u.username} sign in today. {refusal}")

    return _act(request, pk, act, "A link to set a password is on its way to {}.")
