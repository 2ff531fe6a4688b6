"""Identity: users and sign-in, tenants and members, roles and scopes, API keys, MFA, audit trail,
secrets, rate limits and the platform's own tenant. Every other domain uses it
(``access.authorize``, ``audit.record``).
"""
