"""An Okta-shaped authorization server on loopback: org server, custom servers, a demo API, an MCP server.

Each module names the RFC, draft section or Okta page behind every rule it enforces; docs/fidelity.md
lists them, with the date each source was checked. The notebook's number is the step's id:
`sandbox/signin.py`, `helpers/signin.py` and notebook 01 are step 1. One module per job:

    signin.py              01  the org's authorize endpoint, sign-in page, code grant with PKCE, ID tokens
    token_exchange.py      02  RFC 8693 token exchange issuing ID-JAGs
    jwt_bearer.py          03  the JWT bearer grant redeeming ID-JAGs (Authlib's IDJAGGrant)
    api.py                 04  the demo to-do API and its RFC 9728 metadata
    signin_custom.py       06  sign-in at a custom server (the origin app of machine access)
    client_credentials.py  06  the client credentials grant at a custom server (a service's own token)
    mcp_server.py          07  the MCP server (official MCP SDK, uvicorn on its own loopback port): the
                               same to-dos as MCP tools, a protected resource of the custom server
    external.py            08  resource connections to external resource authorization servers (any issuer)
    admin.py               08  SSWS-protected admin API: run-time resource connections, minted ID-JAGs
    config.py                  the configuration (default.toml) and its checks
    core.py                    one running instance's state: org URL, keys, replay caches, stores, events
    app.py                     the Flask app: Okta's URL layout, request guards, OAuth-shaped errors
    servers.py                 the org server and the custom servers (Authlib AuthorizationServer), metadata
    client_auth.py             client authentication at every token endpoint (private_key_jwt, secrets, none)
    access_tokens.py           Okta's access token claim layout, for every grant that issues one
    errors.py                  Okta's error catalog and `refuse`, the one path of every refusal
    events.py, system_log.py   the event log of grants and refusals; Okta's System Log API over it
    keys.py, jwts.py           signing keys (persisted), clients' keys, careful JWT parsing
    replay.py                  expiring stores that fail closed (jti replay caches, codes, sign-in pages)
    serving.py, cli.py         waitress serving and `python -m sandbox`
    tls.py                     `--tls`: the local test CA (kept in the data folder) and the server certificate
    tls_serving.py             waitress connections over TLS (non-blocking handshake, then plain waitress)
    connect_cli.py             `python -m sandbox connect | disconnect | connections`
    testing.py                 `running_sandbox()` for tests

`sandbox` never imports `helpers` (the two meet only over HTTP).
"""
