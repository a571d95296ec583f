"""Praxis as an LTI 1.3 tool (LTI Advantage), on pylti1p3next: the HTTP side.

The LTI store (registrations, the schools' signing keys, the people LMS users are,
the courses and line items launches name) is the webhooks service's
(services/webhooks/lti_store.py); the gateway never reads its collections.

- ``registry``: the store as the gateway reaches it, by RPC (pooled, with deadlines).
- ``store``: the launch's short-lived state (nonces, state) and the cookie secret,
  in the gateway's own database.
- ``tool``: pylti1p3's tool configuration over the registry, the OIDC login and
  the launch validation, and who the launch is (role and Praxis person).
- ``session``: the launch session, a signed cookie the gateway honours as a
  caller for the pages and API calls of that browser.
- ``routes``: the public endpoints (login, launch, JWKS, deep linking, pages).
"""
