"""An Okta-shaped authorization server on loopback: org server, custom servers, a demo API, an MCP server.

Each module names the RFC, draft section or Okta page behind every rule it enforces; docs/fidelity.md
lists them, with the date each source was checked. One module per job:

    config.py          the configuration (default.toml) and its checks
    core.py            one running instance's state: org URL, keys, replay caches, stores, events
    app.py             the Flask app: Okta's URL layout, request guards, OAuth-shaped errors
    servers.py         the org server and the custom servers (Authlib AuthorizationServer), metadata
    client_auth.py     client authentication at every token endpoint (private_key_jwt, secrets, none)
    authorize.py       step 1: authorize endpoint, sign-in page, code grant with PKCE, ID tokens
    token_exchange.py  step 2: RFC 8693 token exchange issuing ID-JAGs
    jwt_bearer.py      step 3: the JWT bearer grant redeeming ID-JAGs (Authlib's IDJAGGrant)
    resource_api.py    step 4: the demo to-do API and its RFC 9728 metadata
    mcp_server.py      the MCP server (official MCP SDK, uvicorn on its own loopback port): the same
                       to-dos as MCP tools, a protected resource of the custom server (notebook 07)
    errors.py          Okta's error catalog and `refuse`, the one path of every refusal
    events.py          the event log of grants and refusals
    keys.py, jwts.py   signing keys (persisted), clients' keys, careful JWT parsing
    replay.py          expiring stores that fail closed (jti replay caches, codes, sign-in pages)
    serving.py, cli.py waitress serving and `python -m sandbox`
    tls.py             `--tls`: the local test CA (kept in the data folder) and the server certificate
    tls_serving.py     waitress connections over TLS (non-blocking handshake, then plain waitress)
    external.py        resource connections to external resource authorization servers (any issuer)
    admin.py           SSWS-protected admin API: run-time resource connections, minted ID-JAGs (tests)
    connect_cli.py     `python -m sandbox connect | disconnect | connections`
    testing.py         `running_sandbox()` for tests

`sandbox` never imports `helpers` (the two meet only over HTTP).
"""
