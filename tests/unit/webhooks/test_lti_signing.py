"""The LTI store signs a deep-linking response for the gateway, and nothing else:
a message that is not one, or not from Praxis's client id to that platform, is
refused before any key is read."""
import pytest

from services.webhooks.lti_keys import MESSAGE_TYPE, sign_deep_linking_response

PLATFORM = {"_id": "p1", "school_id": "jufe", "issuer": "https://lms.jufe.edu.cn", "client_id": "praxis"}
RESPONSE = {"iss": "praxis", "aud": ["https://lms.jufe.edu.cn"], MESSAGE_TYPE: "LtiDeepLinkingResponse"}


@pytest.mark.parametrize("message", [
    dict(RESPONSE, **{MESSAGE_TYPE: "LtiResourceLinkRequest"}),
    dict(RESPONSE, iss="someone-else"),
    dict(RESPONSE, aud=["https://lms.other.edu"]),
    {"sub": "anything", "scope": "admin"},
])
def test_only_a_deep_linking_response_from_praxis_to_that_platform_is_signed(message):
    with pytest.raises(ValueError):
        sign_deep_linking_response(None, PLATFORM, message)
