"""Identity and tenancy as people meet them in Chromium: the first admin changes the one-time
password, creates a tenant and a member; the member changes the temporary password, turns on
two-step sign-in, signs in with a code, sees only their tenant, and makes and revokes an API key."""

import re
import time

import httpx
import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import (
    ADMIN_NEW_PASSWORD,
    change_password,
    screenshot,
    sign_in,
    sign_in_as_admin,
    sign_out,
)

pytestmark = pytest.mark.e2e

TENANT_SLUG = "ruijin-cardiology"
TENANT_NAME = "瑞金医院心内科"
MEMBER_EMAIL = "dr.li@ruijin.example"
MEMBER_PASSWORD = "ward round at seven"
LOAD_TIMEOUT = 30_000


@pytest.fixture(scope="module")
def journey() -> dict[str, object]:
    """What one step of the story hands to the next (temporary password, TOTP secret, codes)."""
    return {}


def _toast(page: Page, text: str) -> None:
    expect(page.locator("[data-sonner-toast]").filter(has_text=text).first).to_be_visible(timeout=LOAD_TIMEOUT)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def _choose_tenant(page: Page, name: str) -> None:
    page.locator("#tenant-switcher").click()
    page.get_by_role("option", name=name).click()
    expect(page.locator("#tenant-switcher")).to_contain_text(name, timeout=LOAD_TIMEOUT)


def test_an_anonymous_visitor_sees_only_the_sign_in_page(app_server, page):
    for route in ("/", "/admin", "/account"):
        page.goto(app_server.url + route)
        expect(page).to_have_url(re.compile(r"/login/?$"), timeout=LOAD_TIMEOUT)
        expect(page.locator("#login-email")).to_be_visible()
        expect(page.locator("#sidebar")).to_have_count(0)
        expect(page.locator("#health-overall")).to_have_count(0)
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    screenshot(page, "login-zh")
    assert httpx.get(app_server.url + "/api/me", timeout=10).status_code == 401


def test_a_wrong_password_is_refused_with_the_reason(app_server, page):
    sign_in(page, app_server.url, "nobody@medai.local", "not the password")
    _toast(page, "The e-mail or password is wrong.")
    expect(page).to_have_url(re.compile(r"/login/?$"))
    expect(page.locator("#login-submit")).to_be_enabled()  # ready for another try


def test_the_first_admin_must_replace_the_one_time_password(app_server, admin, page):
    # conftest orders this module first among the browser tests, so the password is still the one-time one
    assert admin.must_change_password, "another browser test signed the admin in before test_identity.py"
    sign_in(page, app_server.url, admin.email, admin.password)
    expect(page).to_have_url(re.compile(r"/account/?$"), timeout=LOAD_TIMEOUT)
    expect(page.locator("#must-change-password")).to_be_visible()
    expect(page.locator("#mfa-section")).to_have_count(0)  # nothing else until the password is changed
    screenshot(page, "account-forced-change-zh")

    page.goto(app_server.url + "/admin")  # every other page sends them back
    expect(page).to_have_url(re.compile(r"/account/?$"), timeout=LOAD_TIMEOUT)

    change_password(page, admin.password, "short")  # refused by the browser: shorter than 10 characters
    expect(page.locator("#must-change-password")).to_be_visible()
    change_password(page, "not the one-time password", ADMIN_NEW_PASSWORD)
    _toast(page, "The current password is wrong.")

    change_password(page, admin.password, ADMIN_NEW_PASSWORD)
    admin.password, admin.must_change_password = ADMIN_NEW_PASSWORD, False
    expect(page.locator("#health-overall")).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#user-menu")).to_contain_text(admin.email)


def test_admin_creates_a_tenant_and_adds_a_member(app_server, admin, page, journey):
    sign_in_as_admin(page, app_server.url, admin)
    page.locator("#nav-admin").click()
    expect(page).to_have_url(re.compile(r"/admin/?$"), timeout=LOAD_TIMEOUT)
    _open_tab(page, "租户")

    page.locator("#tenant-slug").fill(TENANT_SLUG)
    page.locator("#tenant-name").fill(TENANT_NAME)
    page.locator("#create-tenant").click()
    row = page.locator(f'#tenant-list tr[data-slug="{TENANT_SLUG}"]')
    expect(row).to_contain_text(TENANT_NAME, timeout=LOAD_TIMEOUT)
    expect(row).to_contain_text("正常")
    screenshot(page, "admin-tenants-zh")

    _choose_tenant(page, TENANT_NAME)  # platform admins may act in any tenant
    _open_tab(page, "成员")
    page.locator("#invite-email").fill(MEMBER_EMAIL)
    page.locator("#invite-name").fill("李医生")
    page.locator("#invite-role").click()
    page.get_by_role("option", name="临床医生").click()
    page.locator("#invite-submit").click()

    temporary = page.locator("#temporary-password")
    expect(temporary).to_be_visible(timeout=LOAD_TIMEOUT)
    journey["temporary_password"] = temporary.inner_text().strip()
    assert len(journey["temporary_password"]) >= 10
    member = page.locator(f'#member-list tr[data-email="{MEMBER_EMAIL}"]')
    expect(member).to_contain_text("李医生")
    screenshot(page, "admin-members-zh")

    _open_tab(page, "用户")  # every account on the platform, with the tenants it belongs to
    expect(page.locator(f'#user-list tr[data-email="{MEMBER_EMAIL}"]')).to_contain_text(TENANT_SLUG)
    expect(page.locator(f'#user-list tr[data-email="{admin.email}"]')).to_be_visible()
    screenshot(page, "admin-users-zh")

    page.locator("#language-switch").get_by_role("radio", name="EN").click()
    _open_tab(page, "Permissions")
    clinician_deploy = page.locator('#permission-matrix tr[data-role="clinician"][data-area="serving"]')
    expect(clinician_deploy.get_by_label("Yes")).to_have_count(1)  # view only
    viewer_members = page.locator('#permission-matrix tr[data-role="viewer"][data-area="members"]')
    expect(viewer_members.get_by_label("Yes")).to_have_count(0)
    screenshot(page, "admin-permissions-en")

    _open_tab(page, "Audit")
    page.locator("#audit-action").fill("member.")
    page.locator("#audit-apply").click()
    expect(page.locator('#audit-table tr[data-action="member.add"]')).to_have_count(1, timeout=LOAD_TIMEOUT)
    expect(page.locator('#audit-table tr[data-action="tenant.create"]')).to_have_count(0)
    screenshot(page, "admin-audit-en")
    with page.expect_download() as download:
        page.locator("#audit-export").click()
    exported = download.value.path().read_text()
    assert exported.splitlines()[0].startswith("at,actor,tenant,action")
    assert "member.add" in exported and "tenant.create" not in exported  # the same filter as on screen
    page.locator("#language-switch").get_by_role("radio", name="中文").click()


def test_member_replaces_the_temporary_password_and_turns_on_two_step_sign_in(app_server, page, journey):
    sign_in(page, app_server.url, MEMBER_EMAIL, str(journey["temporary_password"]))
    expect(page.locator("#must-change-password")).to_be_visible(timeout=LOAD_TIMEOUT)
    change_password(page, str(journey["temporary_password"]), MEMBER_PASSWORD)
    expect(page.locator("#health-overall")).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator("#nav-admin")).to_have_count(0)  # a clinician administers nothing
    expect(page.locator("#tenant-switcher")).to_contain_text(TENANT_NAME)

    page.locator("#user-menu").click()
    expect(page.locator("#user-role")).to_contain_text("临床医生")
    page.locator("#menu-account").click()
    expect(page).to_have_url(re.compile(r"/account/?$"), timeout=LOAD_TIMEOUT)
    page.locator("#mfa-start").click()
    secret = page.locator("#mfa-secret")
    expect(secret).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.get_by_role("img", name="身份验证器二维码")).to_be_visible()
    screenshot(page, "account-mfa-enroll-zh")
    totp = pyotp.TOTP(secret.inner_text().strip())
    page.locator("#mfa-code").fill(totp.now())
    page.locator("#mfa-confirm").click()

    codes = page.locator("#recovery-codes code")
    expect(codes).to_have_count(10, timeout=LOAD_TIMEOUT)
    journey["secret"] = totp.secret
    journey["enrolled_at"] = time.time()
    journey["recovery_codes"] = [c.strip() for c in codes.all_inner_texts()]
    screenshot(page, "account-recovery-codes-zh")
    page.locator("#recovery-done").click()
    expect(page.locator("#recovery-codes")).to_have_count(0)
    expect(page.locator("#recovery-left")).to_contain_text("10")
    sign_out(page)


def test_member_signs_in_with_a_code_sees_only_their_tenant_and_uses_an_api_key(app_server, page, journey):
    sign_in(page, app_server.url, MEMBER_EMAIL, MEMBER_PASSWORD)
    expect(page.locator("#login-code")).to_be_visible(timeout=LOAD_TIMEOUT)
    screenshot(page, "login-code-zh")
    # the enrollment used the current 30-second step and a code is accepted once: use the next step
    totp = pyotp.TOTP(str(journey["secret"]))
    page.locator("#login-code").fill(totp.at(max(time.time(), float(journey["enrolled_at"])) + 30))
    page.locator("#login-verify").click()
    expect(page.locator("#health-overall")).to_be_visible(timeout=LOAD_TIMEOUT)

    page.locator("#tenant-switcher").click()
    expect(page.get_by_role("option")).to_have_count(1)
    expect(page.get_by_role("option")).to_have_text(TENANT_NAME)
    page.keyboard.press("Escape")
    me = page.request.get(app_server.url + "/api/me").json()  # the browser's session cookie
    assert me["label"] == MEMBER_EMAIL and me["role"] == "clinician" and not me["is_platform_admin"]
    tenants = page.request.get(app_server.url + "/api/tenants").json()
    assert [t["slug"] for t in tenants] == [TENANT_SLUG]

    page.goto(app_server.url + "/account")
    page.locator("#language-switch").get_by_role("radio", name="EN").click()
    page.locator("#api-key-name").fill("ward-report")
    page.get_by_role("checkbox", name=re.compile("models:read")).click()
    page.locator("#api-key-expiry").fill("30")
    page.locator("#create-api-key").click()
    token_box = page.locator("#new-api-key")
    expect(token_box).to_be_visible(timeout=LOAD_TIMEOUT)
    token = token_box.inner_text().strip()
    assert token.startswith("medai_")
    row = page.locator('#api-key-list tr[data-key-name="ward-report"]')
    expect(row).to_have_attribute("data-state", "active")
    expect(row).to_contain_text("models:read")
    screenshot(page, "account-api-key-en")

    bearer = _bearer(token)
    answer = httpx.get(app_server.url + "/api/me", headers=bearer, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["scopes"] == ["models:read"]
    assert answer.json()["label"].startswith(MEMBER_EMAIL)

    row.get_by_role("button", name="Revoke").click()
    expect(row).to_have_attribute("data-state", "revoked", timeout=LOAD_TIMEOUT)
    _toast(page, "The key has been revoked")
    answer = httpx.get(app_server.url + "/api/me", headers=bearer, timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "UNAUTHENTICATED"
    page.locator("#language-switch").get_by_role("radio", name="中文").click()

    session_token = next(c["value"] for c in page.context.cookies() if c["name"] == "medai_session")
    assert httpx.get(app_server.url + "/api/me", headers=_bearer(session_token), timeout=10).status_code == 200
    sign_out(page)
    assert not [c for c in page.context.cookies() if c["name"] == "medai_session" and c["value"]]
    ended = httpx.get(app_server.url + "/api/me", headers=_bearer(session_token), timeout=10)
    assert ended.status_code == 401  # signing out ended the session on the server, not only in the browser


def test_a_recovery_code_signs_in_once(app_server, page, journey):
    code = str(journey["recovery_codes"][0])
    sign_in(page, app_server.url, MEMBER_EMAIL, MEMBER_PASSWORD)
    page.locator("#login-code").fill(code)
    page.locator("#login-verify").click()
    expect(page.locator("#health-overall")).to_be_visible(timeout=LOAD_TIMEOUT)
    page.goto(app_server.url + "/account")
    expect(page.locator("#recovery-left")).to_contain_text("9", timeout=LOAD_TIMEOUT)
    sign_out(page)

    sign_in(page, app_server.url, MEMBER_EMAIL, MEMBER_PASSWORD)
    page.locator("#login-code").fill(code)
    page.locator("#login-verify").click()
    _toast(page, "That code is not valid.")
    expect(page.locator("#health-overall")).to_have_count(0)
