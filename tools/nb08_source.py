"""The cells of notebooks/08_build_a_resource_server.ipynb, as code (`python tools/nb08_source.py`).

For authors: edit the cells here, write the notebook, then store its outputs with
`.venv/bin/python tools/run_notebooks.py 08`. The notebook is the reader's copy; this file is how it is
made (cells are easier to review and to keep consistent as Python strings than as JSON).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "08_build_a_resource_server.ipynb"


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(text: str, *, tags: tuple[str, ...] = (), blank: str | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    if blank is not None:
        cell.metadata["exercise"] = {"blank": blank.strip("\n")}
    return cell


CELLS = [
    md(
        """
# Build a resource authorization server that accepts ID-JAGs

The other side of the flow. Notebooks 01 to 04 are the AI agent's; this one is the **resource app's**:
you own an API (a SaaS API, an MCP server) and your customers' Okta sends their agents to you with
ID-JAGs. Your authorization server checks each one and, if it holds, issues an access token of its
own. Here you write its JWT bearer endpoint, check by check, run a conformance battery against it,
then let the kit's agent go through the whole flow with it, the sandbox playing your customer's Okta.

**What you will do**

- start a small authorization server for a "Notes" app on 127.0.0.1 (its own port, its own keys)
- trust the IdP by its issuer and find its keys through its discovery document
- write each check an ID-JAG must pass, each introduced by the rule it enforces (three are yours)
- publish the server's RFC 8414 metadata with the ID-JAG grant profile
- run the conformance battery (31 ID-JAGs to refuse, 3 to accept), then the agent's own flow

**Before you start:** [01 · Sign the user in](01_user_sign_in.ipynb) (the agent's flow at the end
starts from the user's ID token; a headless run signs in by itself). The sources: Okta's guides
"Validate ID-JAG tokens on resource authorization servers" and "Resource server metadata for
cross-app access" (developer.okta.com/docs/guides/xaa-validate-id-jag), and
draft-ietf-oauth-identity-assertion-authz-grant-04 ("ID-JAG -04") §4.4.

[← 06 · Origin app](06_origin_app_delegation.ipynb) · [README](../README.md) ·
[For resource-app owners](../docs/resource-server.md)
"""
    ),
    code(
        """
import json
import secrets
import threading
import time

from jose import jwk, jws
from jose.exceptions import JOSEError

from helpers import Kit, conformance, jwt_bearer, resource_exercises, token_exchange
from helpers.constants import GRANT_JWT_BEARER, GRANT_PROFILE_ID_JAG, ID_JAG_JWT_TYP
from helpers.resource_server import (
    ExpiringSet,
    Refusal,
    RegisteredClient,
    ResourceServer,
    connect_in_sandbox,
)

kit = Kit.open("08_build_a_resource_server")
"""
    ),
    md(
        """
## Start the Notes app's authorization server

It listens on 127.0.0.1 and a free port, in a thread of this notebook, until the last cell stops it.
Its issuer is its URL, `http://127.0.0.1:<port>`: that is what an ID-JAG for it carries as `aud`.
The plumbing every OAuth server has is done for you (`helpers/resource_server.py`): the HTTP server,
client authentication at the token endpoint, OAuth error bodies, its own signing key (a PEM file of
mode 0600) published at `/jwks`. Two clients are registered, as the app's admin would register them:

- the AI agent, under the same client id it has at Okta (Okta's ID-JAG `client_id` is the agent's id
  at Okta, ID-JAG -04 §3.1 wants the client's id at *this* server, so both must match), authenticating
  with `private_key_jwt` and the public key it registered;
- a reporting app with a secret: the battery uses it to show that one client cannot redeem another's
  ID-JAG.
"""
    ),
    code(
        """
NOTES_API = "https://notes.example/api"   # the resource this server issues tokens for (RFC 8707)
REPORTING_APP = "notes-reporting-app"
reporting_secret = secrets.token_urlsafe(24)   # never shown

ras = ResourceServer(
    key_file=(kit.settings.state_dir or kit.settings.home / ".kit") / "notes-server" / "signing.pem",
    clients=[
        RegisteredClient(kit.settings.agent_client_id, jwks=kit.key.jwks),
        RegisteredClient(REPORTING_APP, secret=reporting_secret),
    ],
).start()
ras
"""
    ),
    md(
        """
## Trust the IdP by its issuer, and find its keys by discovery

RFC 7523 §3: the JWT "MUST contain an `iss` (issuer) claim" naming who issued it, and the server
trusts only issuers it was configured with; Okta's guide: fetch the keys from the org's `jwks_uri`,
found in its metadata. The trusted issuer is **configuration** (your customer's Okta org URL), never
read from a token. The org's discovery document gives the `jwks_uri`; the keys are cached, and
fetched again when a token names a `kid` the cache does not have (Okta rotates its keys), at most
every few seconds so a stream of made-up `kid`s cannot turn into a stream of requests.
"""
    ),
    code(
        """
TRUSTED_ISSUER = kit.settings.org_issuer   # your customer's Okta org: configured, not read from tokens

discovery = kit.http.get(TRUSTED_ISSUER + "/.well-known/openid-configuration").json()
assert discovery["issuer"] == TRUSTED_ISSUER   # OIDC Discovery §4.3: identical, or do not use it
idp_keys = {"jwks": kit.http.get(discovery["jwks_uri"]).json(), "fetched": time.monotonic()}
keys_lock = threading.Lock()


def idp_key(kid):
    \"\"\"Return the IdP's key named by kid, or None; refetch the JWKS on an unknown kid (5 s apart).\"\"\"
    with keys_lock:
        for attempt in range(2):
            for key in idp_keys["jwks"].get("keys", []):
                if isinstance(kid, str) and key.get("kid") == kid:
                    return key
            if attempt or time.monotonic() - idp_keys["fetched"] < 5:
                return None
            idp_keys["jwks"] = kit.http.get(discovery["jwks_uri"]).json()
            idp_keys["fetched"] = time.monotonic()
    return None


print("jwks_uri:", discovery["jwks_uri"])
print("keys:", [key["kid"] for key in idp_keys["jwks"]["keys"]])
"""
    ),
    md(
        """
## Verify the signature: the key by `kid`, an explicit list of algorithms

RFC 7523 §3: "The JWT MUST be digitally signed … The authorization server MUST reject JWTs with an
invalid signature." RFC 8725 §3.1: accept only the algorithms you expect, from an explicit list: never
`none`, and never `HS256`, which a careless library would key with the IdP's *public* key (anyone
has it). The key is the one the header's `kid` names among the trusted IdP's keys, never a key the
token brings along. Every failure is a refusal: `invalid_grant` with status 400 (RFC 6749 §5.2), never
a 500, whatever the token holds.
"""
    ),
    code(
        """
ALLOWED_ALGS = ["RS256"]   # what the IdP signs with; never "none", never HS*


def verify_id_jag(id_jag):
    \"\"\"Return (header, claims) of an ID-JAG whose signature verifies with the IdP key its kid names.\"\"\"
    try:
        header = jws.get_unverified_header(id_jag)
    except JOSEError:
        raise Refusal("invalid_grant", "The assertion is not a signed JWT.") from None
    # RFC 8725 §3.1: only the algorithms of the list.
    if header.get("alg") not in ALLOWED_ALGS:
        raise Refusal("invalid_grant", f"The assertion's alg must be one of {ALLOWED_ALGS}.")
    key = idp_key(header.get("kid"))
    if key is None:
        raise Refusal("invalid_grant", "The assertion's kid names no key of the trusted IdP.")
    try:
        # RFC 7523 §3: the signature MUST verify.
        payload = jws.verify(id_jag, jwk.construct(key, header["alg"]), algorithms=ALLOWED_ALGS)
        claims = json.loads(payload)
    except (JOSEError, ValueError):
        raise Refusal("invalid_grant", "The signature of the ID-JAG is invalid.") from None
    if not isinstance(claims, dict):
        raise Refusal("invalid_grant", "The ID-JAG's claims are not a JSON object.")
    return header, claims


def check_issuer(claims):
    # RFC 7523 §3 (1): iss is the IdP this server trusts.
    if claims.get("iss") != TRUSTED_ISSUER:
        raise Refusal("invalid_grant", "The ID-JAG's issuer is not a trusted IdP.")
"""
    ),
    md(
        """
## Your turn: the type of the token

ID-JAG -04 §4.4.1: "Validate the JWT `typ` is `oauth-id-jag+jwt` (per RFC 8725 §3.11)." The same IdP
signs ID tokens and access tokens with the same key; without this check, one of those, sent as an
assertion, would pass every other test. Write `check_typ(header)`: raise
`Refusal("invalid_grant", "…")` unless the header's `typ` is `ID_JAG_JWT_TYP`.
"""
    ),
    code(
        """
def check_typ(header):
    # ID-JAG -04 §4.4.1 (RFC 8725 §3.11): explicit typing; another JWT of the IdP is not an ID-JAG.
    if header.get("typ") != ID_JAG_JWT_TYP:
        raise Refusal("invalid_grant", f"The assertion's typ must be {ID_JAG_JWT_TYP}.")
""",
        tags=("exercise",),
        blank="""
def check_typ(header):
    # Your turn: raise Refusal("invalid_grant", "...") unless header["typ"] is ID_JAG_JWT_TYP.
    ...
""",
    ),
    code("resource_exercises.check_typ_check(check_typ)", tags=("exercise-check",)),
    md(
        """
## Your turn: the audience is this server

ID-JAG -04 §4.4.1: "The `aud` claim MUST identify the Issuer URL of the Resource Authorization Server
as the intended audience of the JWT." §3.1 lets it be a string or an array with exactly one element,
and issuers compare as exact strings: one slash more is another server. This is what stops an ID-JAG
made for another app from being spent here. Write `check_audience(claims)` with `ras.issuer`.
"""
    ),
    code(
        """
def check_audience(claims):
    aud = claims.get("aud")
    # ID-JAG -04 §3.1, §4.4.1: this server's issuer, a string or an array of exactly one element.
    if aud != ras.issuer and aud != [ras.issuer]:
        raise Refusal("invalid_grant", "The ID-JAG's aud must be this server's issuer.")
""",
        tags=("exercise",),
        blank="""
def check_audience(claims):
    # Your turn: accept aud == ras.issuer or aud == [ras.issuer]; refuse anything else.
    ...
""",
    ),
    code(
        "resource_exercises.check_audience_check(check_audience, issuer=ras.issuer)",
        tags=("exercise-check",),
    ),
    md(
        """
## Your turn: the client is the one the IdP issued it to

ID-JAG -04 §4.4.1: "The `client_id` claim MUST identify the same client as the client authentication
in the request." An ID-JAG is a bearer grant: whoever holds it could send it. Binding it to the
client that authenticated means a leaked ID-JAG is useless to any other client. Write
`check_client(claims, client_id)`, where `client_id` is the client the server authenticated.
"""
    ),
    code(
        """
def check_client(claims, client_id):
    # ID-JAG -04 §4.4.1: the ID-JAG's client_id is the authenticated client.
    if claims.get("client_id") != client_id:
        raise Refusal("invalid_grant", "The ID-JAG's client_id is not the authenticated client.")
""",
        tags=("exercise",),
        blank="""
def check_client(claims, client_id):
    # Your turn: refuse unless claims["client_id"] is the authenticated client_id.
    ...
""",
    ),
    code(
        "resource_exercises.check_client_check(check_client, client_id=kit.settings.agent_client_id)",
        tags=("exercise-check",),
    ),
    md(
        """
## The subject, and the times

RFC 7523 §3: the JWT "MUST contain a `sub` (subject) claim" (the user), "MUST contain an `exp`
(expiration time) claim" and must not be used after it, nor before an `nbf`; ID-JAG -04 §3.1 makes
`iat` REQUIRED too. Okta issues ID-JAGs for 5 minutes and its resource servers refuse one that lives
longer (`id_jag_lifetime_too_long`: "The lifetime of the id-jag must not exceed 5 minutes.") or was
issued in the future (`id_jag_issued_in_future`). A minute of allowance absorbs clock differences.
"""
    ),
    code(
        """
SKEW = 60            # seconds of clock difference allowed
MAX_LIFETIME = 300   # Okta: an ID-JAG lives at most 5 minutes


def is_time(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_subject(claims):
    # RFC 7523 §3 (2): sub names the user the access token will be for.
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise Refusal("invalid_grant", "The ID-JAG has no sub.")


def check_times(claims):
    now = time.time()
    exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf")
    # RFC 7523 §3 (4) exp REQUIRED; ID-JAG -04 §3.1 iat REQUIRED.
    if not is_time(exp) or not is_time(iat):
        raise Refusal("invalid_grant", "The ID-JAG must carry numeric exp and iat.")
    if exp < now - SKEW:
        raise Refusal("invalid_grant", "The ID-JAG has expired.")
    # RFC 7523 §3 (5): not before nbf. Okta: not issued in the future.
    if iat > now + SKEW or (nbf is not None and (not is_time(nbf) or nbf > now + SKEW)):
        raise Refusal("invalid_grant", "The ID-JAG is not valid yet.")
    # Okta: at most 5 minutes from iat to exp.
    if exp - iat > MAX_LIFETIME:
        raise Refusal("invalid_grant", f"The ID-JAG lives longer than {MAX_LIFETIME} s.")
"""
    ),
    md(
        """
## Use each ID-JAG once

ID-JAG -04 §3.1 makes `jti` REQUIRED. What to do with it differs by source: §4.4.3 says "When the
access token has expired, clients MAY re-submit the original ID-JAG", while MCP Enterprise-Managed
Authorization §7.4.2 makes replay detection REQUIRED for the lifetime of the assertion, and Okta
refuses a second redemption ("The id-jag was already used."). This server follows Okta and MCP: a
`jti` is remembered until the ID-JAG expires (then `exp` refuses it anyway), per issuer. It is
recorded last, after every other check passed, so a refused request does not spend the ID-JAG.
"""
    ),
    code(
        """
used_jtis = ExpiringSet()   # "issuer jti" -> remembered until the ID-JAG expires (thread-safe)


def check_replay(claims):
    jti = claims.get("jti")
    # ID-JAG -04 §3.1: jti REQUIRED. EMA §7.4.2 and Okta: single use for the ID-JAG's lifetime.
    if not isinstance(jti, str) or not jti:
        raise Refusal("invalid_grant", "The ID-JAG has no jti.")
    if not used_jtis.first_use(f"{claims['iss']} {jti}", until=claims["exp"] + SKEW):
        raise Refusal("invalid_grant", "The ID-JAG was already used.")
"""
    ),
    md(
        """
## Grant the scopes your policy allows, no more

ID-JAG -04 §4.4.1: the server "MUST follow Section 3.3 of RFC 6749 when processing the `scope`
claim": it may grant less than asked, and then says what it granted in the response. MCP EMA §7.2.1:
the scopes issued are the intersection of what the ID-JAG carries and what the server's policy
allows. The IdP decided what the *customer* allows; this policy is what *your app* allows each
client. Okta also refuses a `scope` parameter beside the ID-JAG (`id_jag_scopes_in_request`): the
scopes come from the signed grant, not from the request.
"""
    ),
    code(
        """
POLICY = {
    kit.settings.agent_client_id: {"notes.read", "notes.write"},
    REPORTING_APP: {"notes.read"},
}   # nobody gets notes.admin through an ID-JAG


def grant_scopes(claims, client_id):
    asked = claims.get("scope").split() if isinstance(claims.get("scope"), str) else []
    if not asked:
        raise Refusal("invalid_grant", "The ID-JAG carries no scope.")
    # RFC 6749 §3.3, EMA §7.2.1: the intersection with this server's policy.
    granted = [scope for scope in asked if scope in POLICY.get(client_id, set())]
    if not granted:
        raise Refusal("invalid_scope", "None of the ID-JAG's scopes is granted to this client.")
    return granted
"""
    ),
    md(
        """
## The endpoint: every check, then the access token

The order matters in two places: the signature before any claim is believed, and the replay record
after every other check. The access token is the server's own (RFC 9068, signed with its key, `aud`
the Notes API: MCP EMA §5.1 restricts it to the resource the ID-JAG names), with no refresh token
(ID-JAG -04 §4.4.3: the agent gets a new ID-JAG instead) and the granted scope in the response.
"""
    ),
    code(
        """
def redeem_id_jag(request):
    \"\"\"The JWT bearer grant (RFC 7523 §2.1) with an ID-JAG: check it, then issue an access token.\"\"\"
    if "scope" in request.form:
        # Okta (id_jag_scopes_in_request): the scopes come from the ID-JAG.
        raise Refusal("invalid_request", "Send no scope parameter: the scopes come from the ID-JAG.")
    header, claims = verify_id_jag(request.form["assertion"])
    check_typ(header)
    check_issuer(claims)
    check_audience(claims)
    check_subject(claims)
    check_client(claims, request.client_id)
    check_times(claims)
    # EMA §5.1: the token is for the resource the ID-JAG names; this server serves one.
    if claims.get("resource", NOTES_API) != NOTES_API:
        raise Refusal("invalid_target", "The ID-JAG's resource is not served by this server.")
    scopes = grant_scopes(claims, request.client_id)
    check_replay(claims)
    return ras.issue_access_token(
        subject=claims["sub"], client_id=request.client_id, scopes=scopes, audience=NOTES_API
    )


ras.jwt_bearer = redeem_id_jag
"""
    ),
    md(
        """
## Publish the server's metadata

RFC 8414: the document at `/.well-known/oauth-authorization-server`. ID-JAG -04 §7.2:
`authorization_grant_profiles_supported` SHOULD contain `urn:ietf:params:oauth:grant-profile:id-jag`,
and then `grant_types_supported` MUST include the JWT bearer grant. Okta's "Resource server metadata"
guide requires the profile of every external resource server. §9.4: the metadata MUST NOT list the
issuers you trust (an attacker would learn which IdP to target).
"""
    ),
    code(
        """
ras.metadata = {
    "issuer": ras.issuer,
    "token_endpoint": ras.token_endpoint,
    "jwks_uri": ras.jwks_uri,
    "grant_types_supported": [GRANT_JWT_BEARER],
    "authorization_grant_profiles_supported": [GRANT_PROFILE_ID_JAG],
    "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic", "client_secret_post"],
    "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
    "scopes_supported": ["notes.read", "notes.write"],
}
kit.server_metadata(ras.issuer)
"""
    ),
    md(
        """
## Run the conformance battery against your server

`helpers/conformance.py` sends your token endpoint ID-JAGs that must be refused (wrong `typ`, unknown
`kid`, a stranger's key, `alg: none`, HS256 keyed with the IdP's public key, another `iss`, another
`aud`, an `aud` of two, expired, too long-lived, issued in the future, no `jti`, replayed, another
client's, another client authenticating, a scope you do not grant, an ID token or an access token in
place of an ID-JAG, …) and ID-JAGs that must be accepted. The ID-JAGs with valid signatures and
wrong claims come from the sandbox's minting endpoint (sandbox only: Okta signs only what its
policies allow). Each row names its rule, its source and its level (MUST, SHOULD, Okta, EMA); the
same battery runs from the command line against any server (`python -m helpers.conformance`).
"""
    ),
    code(
        """
report = conformance.run_battery(
    conformance.IdP(kit.settings.org_issuer, kit.settings.okta_api_token),
    conformance.Target(
        issuer=ras.issuer,
        client=conformance.ClientAuth(kit.settings.agent_client_id, signer=kit.signer),
        granted_scope="notes.read",
        ungranted_scope="notes.admin",
        other_client=conformance.ClientAuth(REPORTING_APP, "client_secret_basic", secret=reporting_secret),
        name="your Notes server",
    ),
)
report
"""
    ),
    code(
        """
assert report.ok, report.summary()
assert ras.unexpected_errors == 0, ras.last_unexpected   # no request ended in a 500
print(report.summary())
"""
    ),
    md(
        """
## Connect the IdP to your server

At Okta, an admin adds your app to the agent's managed connections (the resource connection: which
agent may get ID-JAGs for which authorization server, with which scopes). The sandbox takes the same
from its configuration, or at run time from its admin API, protected by its API token like the
System Log (`python -m sandbox connect --client … --audience … --scopes …` does the same from a
shell). The audience is your issuer, a server the sandbox does not host.
"""
    ),
    code(
        """
connection = connect_in_sandbox(
    kit.http,
    kit.settings.org_issuer,
    kit.settings.okta_api_token,
    client_id=kit.settings.agent_client_id,
    audience=ras.issuer,
    scopes=["notes.read", "notes.write"],
    name="agent-notes",
)
connection
"""
    ),
    md(
        """
## The agent's flow, against your server

Step 2 as in notebook 02, with `audience` = your issuer: the org issues an ID-JAG whose `aud` is your
server. Step 3 as in notebook 03, at your token endpoint: your checks run, your key signs the access
token. The session's tokens for the sandbox's own server are left as they are.
"""
    ),
    code(
        """
id_token = kit.require("id_token")
form = token_exchange.token_exchange_form(
    subject_token=id_token.value, audience=ras.issuer, scopes=["notes.read"]
)
exchanged = kit.token_request(kit.settings.org_token_url, form, label="Token exchange for your server")
id_jag = exchanged["access_token"]
token_exchange.check_id_jag(
    id_jag,
    jwks=kit.org_jwks(),
    issuer=kit.settings.org_issuer,
    audience=ras.issuer,
    client_id=kit.settings.agent_client_id,
    subject=json.loads(jws.get_unverified_claims(id_token.value))["sub"],
    requested_scopes=form["scope"],
)
"""
    ),
    code(
        """
redeemed = kit.token_request(
    ras.token_endpoint, jwt_bearer.jwt_bearer_form(id_jag), label="JWT bearer grant at your server"
)
redeemed
"""
    ),
    code(
        """
jwt_bearer.check_access_token(
    redeemed["access_token"],
    jwks=kit.jwks_of(ras.issuer),
    issuer=ras.issuer,
    client_id=kit.settings.agent_client_id,
    id_jag_claims=json.loads(jws.get_unverified_claims(id_jag)),
    audience=NOTES_API,
)
"""
    ),
    code('kit.card(redeemed["access_token"], "Access token issued by your server")'),
    md(
        """
## Stop the server

The connection is removed from the sandbox and the server stops listening.
"""
    ),
    code(
        """
connection.remove()
ras.stop()
print("stopped; requests that ended in a 500:", ras.unexpected_errors)
"""
    ),
    md(
        """
## Recap

- A resource authorization server trusts an IdP by its **issuer** (configuration) and finds its keys
  through discovery; it picks the key by `kid` and accepts only the algorithms of its list.
- An ID-JAG must be typed (`typ` `oauth-id-jag+jwt`), for this server (`aud`: its issuer, a string or
  one-element array), for the authenticated client (`client_id`), current (`exp`, `iat`; Okta: at
  most 5 minutes), and, at Okta and in MCP, used once (`jti`).
- The scopes granted are those of the ID-JAG that your policy allows; the response says which.
- The metadata lists the ID-JAG grant profile and the JWT bearer grant, and never the trusted issuers.
- `python -m helpers.conformance` checks any such server against the same rows;
  [docs/resource-server.md](../docs/resource-server.md) is the checklist for resource-app owners.

**Check your understanding**

1. Remove `check_typ` from `redeem_id_jag` and run the battery again: which rows fail, and why does
   the signature check not catch them?
2. Why must the replay record come after every other check?
3. An agent presents an ID-JAG whose `aud` is `["<your issuer>", "https://other-app.example"]`. Why
   refuse it, when your issuer is in the list?

[← 06 · Origin app](06_origin_app_delegation.ipynb) · [README](../README.md)
"""
    ),
]


def build() -> nbformat.NotebookNode:
    """Return the notebook (no outputs: `tools/run_notebooks.py 08` stores them)."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    notebook.cells = CELLS
    return notebook


def main() -> int:
    nbformat.write(build(), NOTEBOOK)
    print(f"wrote {NOTEBOOK.relative_to(ROOT)} ({len(CELLS)} cells); now: tools/run_notebooks.py 08")
    return 0


if __name__ == "__main__":
    sys.exit(main())
