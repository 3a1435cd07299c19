"""Names the sandbox speaks: grant types, token types, algorithms, and URL paths.

- RFC 8693 §3 (token type identifiers), RFC 7523 §2.1/§2.2 (JWT bearer grant, client assertion type)
- draft-ietf-oauth-identity-assertion-authz-grant-04 ("ID-JAG -04", May 2026): §3.1 (`typ`), §7.1-§7.2
  (metadata), §10.2 (the token type and grant profile URNs)
- RFC 7518 §3.1 (algorithm names)
"""

from __future__ import annotations

# --- Grant types -------------------------------------------------------------------------------
AUTHORIZATION_CODE = "authorization_code"
#: RFC 6749 §4.4: a client's own access token (Okta: machine access, at a custom server only).
CLIENT_CREDENTIALS = "client_credentials"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

# --- Token types (RFC 8693 §3; ID-JAG -04 §10.2) ----------------------------------------------
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
SAML2_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:saml2"
ID_JAG_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id-jag"

#: JWT `typ` header of an ID-JAG (ID-JAG -04 §3.1: MUST be this value).
ID_JAG_TYP = "oauth-id-jag+jwt"
#: JWT `typ` of RFC 9068 access tokens; never an identity assertion.
ACCESS_TOKEN_TYP = "at+jwt"
#: Authorization grant profile advertised by a target server (ID-JAG -04 §7.2: SHOULD).
ID_JAG_GRANT_PROFILE = "urn:ietf:params:oauth:grant-profile:id-jag"

# --- Client authentication ---------------------------------------------------------------------
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PRIVATE_KEY_JWT = "private_key_jwt"
CLIENT_SECRET_BASIC = "client_secret_basic"
CLIENT_SECRET_POST = "client_secret_post"
NONE_AUTH = "none"
AUTH_METHODS = (PRIVATE_KEY_JWT, CLIENT_SECRET_BASIC, CLIENT_SECRET_POST, NONE_AUTH)

#: Okta accepts these for client assertions (Okta "Build a self-signed JWT"); `none` and HS* never.
CLIENT_ASSERTION_ALGS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
#: The sandbox signs every token it issues with RS256, as Okta does by default.
SIGNING_ALG = "RS256"

# --- PKCE (RFC 7636) ---------------------------------------------------------------------------
PKCE_S256 = "S256"

# --- OpenID scopes refused in a token exchange (Okta's `openid_not_allowed_token_exchange`) ---
OIDC_SCOPES = ("openid", "profile", "email", "address", "phone", "offline_access")
#: Scopes the org authorization server knows.
ORG_SCOPES = ("openid", "profile", "email")

# --- URL paths (Okta's layout) -----------------------------------------------------------------
ORG_AUTHORIZE_PATH = "/oauth2/v1/authorize"
ORG_TOKEN_PATH = "/oauth2/v1/token"
ORG_KEYS_PATH = "/oauth2/v1/keys"
ORG_USERINFO_PATH = "/oauth2/v1/userinfo"
