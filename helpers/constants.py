"""Names the flow uses on the wire: grant types, token types, assertion types, and Okta's limits.

- RFC 8693 §3 (token type identifiers), RFC 7523 §2.1-2.2 (JWT bearer grant, client assertions)
- draft-ietf-oauth-identity-assertion-authz-grant-04 (May 2026; the latest published revision, and the one
  MCP Enterprise-Managed Authorization cites): §3.1 (the ID-JAG, `typ`), §4.3-§4.4 (the two grants),
  §7.1-§7.2 (metadata), §10.2 (the token type and grant profile URNs). The editor's copy adds one pending
  -05 rule (§4.3.3: the IdP must confirm the subject token is of the type indicated); the kit marks it so.
- Okta: "Build a self-signed JWT" (assertion lifetime), "Set up AI agent token exchange" (ID-JAG lifetime)
"""

from __future__ import annotations

#: The ID-JAG draft revision the kit follows, and where to read it.
ID_JAG_DRAFT = "draft-ietf-oauth-identity-assertion-authz-grant-04"
ID_JAG_DRAFT_URL = "https://datatracker.ietf.org/doc/html/" + ID_JAG_DRAFT

# --- Grant types (the `grant_type` form field) --------------------------------------------------
GRANT_AUTHORIZATION_CODE = "authorization_code"
#: RFC 6749 §4.4: a client's own token (Okta's machine access: the origin app's subject token).
GRANT_CLIENT_CREDENTIALS = "client_credentials"
#: RFC 8693 §2.1: the token exchange grant (step 2, ID token -> ID-JAG).
GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
#: RFC 7523 §2.1: the JWT bearer grant (step 3, ID-JAG -> access token).
GRANT_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

# --- Token types (RFC 8693 §3 and the ID-JAG draft) ---------------------------------------------
TOKEN_TYPE_ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
TOKEN_TYPE_ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
TOKEN_TYPE_REFRESH_TOKEN = "urn:ietf:params:oauth:token-type:refresh_token"
TOKEN_TYPE_SAML2 = "urn:ietf:params:oauth:token-type:saml2"
#: ID-JAG -04 §10.2: the token type of an Identity Assertion JWT Authorization Grant.
TOKEN_TYPE_ID_JAG = "urn:ietf:params:oauth:token-type:id-jag"

#: Subject token types the kit lets a reader choose (the draft lists id_token, saml2, refresh_token;
#: access_token is Okta's delegation-link variant).
SUBJECT_TOKEN_TYPES = (
    TOKEN_TYPE_ID_TOKEN,
    TOKEN_TYPE_SAML2,
    TOKEN_TYPE_REFRESH_TOKEN,
    TOKEN_TYPE_ACCESS_TOKEN,
)

# --- Client authentication (RFC 7523 §2.2) -------------------------------------------------------
CLIENT_ASSERTION_TYPE_JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# --- The ID-JAG profile -----------------------------------------------------------------------------
#: ID-JAG -04 §3.1: the JWT header `typ` of an ID-JAG.
ID_JAG_JWT_TYP = "oauth-id-jag+jwt"
#: ID-JAG -04 §7.2: the grant profile a target server lists in `authorization_grant_profiles_supported`.
GRANT_PROFILE_ID_JAG = "urn:ietf:params:oauth:grant-profile:id-jag"
#: RFC 9068 §2.1: the JWT header `typ` of a JWT access token.
ACCESS_TOKEN_JWT_TYP = "at+jwt"

# --- Algorithms ------------------------------------------------------------------------------------
#: Signature algorithms the kit accepts when it verifies a token (never `none`, never HS*).
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")

# --- Okta's limits (seconds) ----------------------------------------------------------------------
#: Okta rejects a client assertion whose `exp` is more than one hour ahead.
CLIENT_ASSERTION_MAX_LIFETIME = 3600
#: The lifetime the kit gives its own client assertions: short, one request each.
CLIENT_ASSERTION_LIFETIME = 120
#: Okta issues ID-JAGs for 300 s; the target server refuses a longer lifetime.
ID_JAG_MAX_LIFETIME = 300
#: Allowance for clocks that differ a little when comparing `iat`, `exp` and `nbf`.
DEFAULT_CLOCK_SKEW = 60

# --- Scopes ----------------------------------------------------------------------------------------
#: OIDC scopes Okta refuses at the token exchange (`openid_not_allowed_token_exchange`).
OIDC_SCOPES = ("openid", "profile", "email", "address", "phone", "offline_access")
