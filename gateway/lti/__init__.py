"""Praxis as an LTI 1.3 tool (LTI Advantage), on pylti1p3next.

- ``store``: the platforms a school registered, in the gateway's database
  (``lti_platforms``; the ``_id`` is derived from issuer and client id, so one
  LMS registration belongs to exactly one school), and short-lived launch state.
- ``keys``: the school's own RSA signing keys (``lti_keys``, one document per
  school), rotation, and the public JWKS.
- ``tool``: pylti1p3's tool configuration over the store, the OIDC login and
  the launch validation, and the mapping of LTI roles onto Praxis's callers.
- ``session``: the launch session, a signed cookie the gateway honours as a
  caller for the pages and API calls of that browser.
- ``routes``: the public endpoints (login, launch, JWKS, deep linking, pages).
"""
