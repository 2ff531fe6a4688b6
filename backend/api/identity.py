"""/api/auth, /api/me, /api/tenants, /api/users, /api/keys: identity and tenancy over REST,
through the same service functions as the web pages."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from backend.api.auth import CurrentPrincipal, RuntimeDep, bearer_token, client_address
from backend.api.dependencies import SessionDep
from backend.errors import ErrorCode, MedAIError
from backend.services.identity import api_keys, mfa, tenancy
from backend.services.identity import users as identity

router = APIRouter(prefix="/api", tags=["identity"])


class Credentials(BaseModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)


class SignInResult(BaseModel):
    token: str
    mfa_required: bool
    must_change_password: bool


class Code(BaseModel):
    code: str = Field(max_length=32)


class PasswordChange(BaseModel):
    current: str = Field(max_length=1024)
    new: str = Field(max_length=1024)


class TenantChoice(BaseModel):
    tenant_id: str


class Me(BaseModel):
    user_id: str
    label: str
    tenant_id: str | None
    role: str | None
    is_platform_admin: bool
    scopes: list[str] | None


class NewTenant(BaseModel):
    slug: str = Field(max_length=64)
    name: str = Field(max_length=128)


class StatusChange(BaseModel):
    status: str


class NewMember(BaseModel):
    email: str = Field(max_length=254)
    display_name: str = Field("", max_length=128)
    role: str


class RoleChange(BaseModel):
    role: str


class NewKey(BaseModel):
    kind: str = "personal"
    name: str = Field(max_length=128)
    scopes: list[str]
    expires_in_days: int | None = 90


class KeyOut(BaseModel):
    id: str
    kind: str
    name: str
    prefix: str
    owner_email: str
    scopes: list[str]
    state: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class CreatedKey(KeyOut):
    token: str = Field(description="The whole key; shown only in this response")


def _key_out(view: api_keys.KeyView) -> KeyOut:
    return KeyOut(
        id=view.id,
        kind=view.kind,
        name=view.name,
        prefix=view.prefix,
        owner_email=view.owner_email,
        scopes=list(view.scopes),
        state=view.state,
        created_at=view.created_at,
        expires_at=view.expires_at,
        last_used_at=view.last_used_at,
    )


# sign-in ---------------------------------------------------------------------------------


@router.post("/auth/login", response_model=SignInResult)
def login(body: Credentials, request: Request, session: SessionDep, rt: RuntimeDep) -> SignInResult:
    """Password sign-in. With MFA on, send the code to /api/auth/mfa with the returned token."""
    result = identity.sign_in(
        session, rt.cache, rt.login_limit, body.email, body.password, client_address(request), rt.session_ttl
    )
    return SignInResult(
        token=result.token, mfa_required=result.mfa_required, must_change_password=result.must_change_password
    )


@router.post("/auth/mfa", status_code=204)
def second_factor(body: Code, request: Request, session: SessionDep, rt: RuntimeDep) -> Response:
    """Finish a sign-in with a TOTP or recovery code; the token from /api/auth/login then works."""
    mfa.complete_sign_in(session, rt.cache, rt.keys, bearer_token(request), body.code)
    return Response(status_code=204)


@router.post("/auth/logout", status_code=204)
def logout(request: Request, session: SessionDep) -> Response:
    token = bearer_token(request)
    if api_keys.is_api_key(token):
        raise MedAIError(ErrorCode.DATA_INVALID, "API keys are not signed out.", "Revoke the key instead.")
    identity.revoke_session(session, token)
    return Response(status_code=204)


@router.post("/auth/password", status_code=204)
def password(body: PasswordChange, request: Request, principal: CurrentPrincipal, session: SessionDep) -> Response:
    """Change one's password (required first when an admin set a temporary one); other sessions end."""
    identity.change_password(session, principal, bearer_token(request), body.current, body.new)
    return Response(status_code=204)


@router.post("/auth/tenant", response_model=Me)
def switch_tenant(body: TenantChoice, request: Request, principal: CurrentPrincipal, session: SessionDep) -> Me:
    """Act in another of one's tenants with this session token."""
    return me(identity.switch_tenant(session, principal, bearer_token(request), body.tenant_id))


@router.get("/me", response_model=Me)
def me(principal: CurrentPrincipal) -> Me:
    """Who the credentials act as."""
    return Me(
        user_id=principal.user_id,
        label=principal.label,
        tenant_id=principal.tenant_id,
        role=principal.role,
        is_platform_admin=principal.is_platform_admin,
        scopes=sorted(principal.scopes) if principal.scopes is not None else None,
    )


# tenants and members ---------------------------------------------------------------------


@router.get("/tenants", response_model=list[tenancy.TenantView])
def get_tenants(principal: CurrentPrincipal, session: SessionDep) -> list[tenancy.TenantView]:
    return tenancy.list_tenants(session, principal)


@router.post("/tenants", response_model=tenancy.TenantView, status_code=201)
def post_tenant(body: NewTenant, principal: CurrentPrincipal, session: SessionDep) -> tenancy.TenantView:
    tenant = tenancy.create_tenant(session, principal, body.slug, body.name)
    return tenancy.TenantView(tenant.id, tenant.slug, tenant.name, tenant.status, 0, tenant.created_at)


@router.patch("/tenants/{tenant_id}", status_code=204)
def patch_tenant(tenant_id: str, body: StatusChange, principal: CurrentPrincipal, session: SessionDep) -> Response:
    tenancy.set_tenant_status(session, principal, tenant_id, body.status)
    return Response(status_code=204)


@router.get("/tenants/{tenant_id}/members", response_model=list[tenancy.MemberView])
def get_members(tenant_id: str, principal: CurrentPrincipal, session: SessionDep) -> list[tenancy.MemberView]:
    return tenancy.list_members(session, principal, tenant_id)


@router.post("/tenants/{tenant_id}/members", response_model=tenancy.Invitation, status_code=201)
def post_member(
    tenant_id: str, body: NewMember, principal: CurrentPrincipal, session: SessionDep
) -> tenancy.Invitation:
    """Add a member; a new account's temporary password is in this response only."""
    return tenancy.invite_member(session, principal, tenant_id, body.email, body.display_name, body.role)


@router.patch("/tenants/{tenant_id}/members/{user_id}", status_code=204)
def patch_member(
    tenant_id: str, user_id: str, body: RoleChange, principal: CurrentPrincipal, session: SessionDep
) -> Response:
    tenancy.set_member_role(session, principal, tenant_id, user_id, body.role)
    return Response(status_code=204)


@router.delete("/tenants/{tenant_id}/members/{user_id}", status_code=204)
def delete_member(tenant_id: str, user_id: str, principal: CurrentPrincipal, session: SessionDep) -> Response:
    tenancy.remove_member(session, principal, tenant_id, user_id)
    return Response(status_code=204)


# users -----------------------------------------------------------------------------------


@router.get("/users", response_model=list[tenancy.UserView])
def get_users(principal: CurrentPrincipal, session: SessionDep) -> list[tenancy.UserView]:
    return tenancy.list_users(session, principal)


@router.patch("/users/{user_id}", status_code=204)
def patch_user(user_id: str, body: StatusChange, principal: CurrentPrincipal, session: SessionDep) -> Response:
    tenancy.set_user_status(session, principal, user_id, body.status)
    return Response(status_code=204)


@router.post("/users/{user_id}/reset-mfa", status_code=204)
def post_reset_mfa(user_id: str, principal: CurrentPrincipal, session: SessionDep) -> Response:
    tenancy.reset_mfa(session, principal, user_id)
    return Response(status_code=204)


# API keys --------------------------------------------------------------------------------


@router.get("/keys", response_model=list[KeyOut])
def get_keys(principal: CurrentPrincipal, session: SessionDep) -> list[KeyOut]:
    return [_key_out(view) for view in api_keys.list_api_keys(session, principal)]


@router.post("/keys", response_model=CreatedKey, status_code=201)
def post_key(body: NewKey, principal: CurrentPrincipal, session: SessionDep) -> CreatedKey:
    """Make a key (signed-in users only, not other keys). The token is shown only here."""
    view, token = api_keys.create_api_key(
        session,
        principal,
        kind=body.kind,
        name=body.name,
        scopes=body.scopes,
        expires_in_days=body.expires_in_days,
    )
    return CreatedKey(**_key_out(view).model_dump(), token=token)


@router.delete("/keys/{key_id}", status_code=204)
def delete_key(key_id: str, principal: CurrentPrincipal, session: SessionDep) -> Response:
    api_keys.revoke_api_key(session, principal, key_id)
    return Response(status_code=204)
