"""The client side's copy of the sandbox's fixture ids (helpers.sandbox_client.ids) matches default.toml."""

from __future__ import annotations

import pytest

from helpers.sandbox_client import ids
from sandbox.config import load_config


@pytest.fixture(scope="module")
def config():
    return load_config()


def test_the_expired_id_token_client_issues_id_tokens_already_expired(config):
    client = config.clients[ids.EXPIRED_ID_TOKEN_CLIENT]
    assert client.id_token_lifetime is not None and client.id_token_lifetime <= 0


def test_the_public_spa_is_public_and_has_no_delegation_link_to_the_agent(config):
    client = config.clients[ids.PUBLIC_SPA]
    assert client.is_public
    agent = next(iter(config.agent_resources))
    assert config.delegation_link(ids.PUBLIC_SPA, agent) is None


def test_the_other_server_has_the_scope_and_no_rule_for_the_agent(config):
    server = config.servers[ids.OTHER_SERVER]
    assert ids.OTHER_SERVER_SCOPE in server.scopes
    agent = next(iter(config.agent_resources))
    assert config.connections_for(agent, ids.OTHER_SERVER)  # the agent may get ID-JAGs for it
    assert not [rule for rule in server.policies if agent in rule.clients]  # but no rule lets it redeem one


def test_the_origin_app_defaults_name_its_client_secret_and_the_agents_resource_url(config):
    client = config.clients[ids.ORIGIN_APP_DEFAULTS["ORIGIN_CLIENT_ID"]]
    assert client.client_secret == ids.ORIGIN_APP_DEFAULTS["ORIGIN_CLIENT_SECRET"]
    resource_urls = {r.resource_url for r in config.agent_resources.values()}
    assert ids.ORIGIN_APP_DEFAULTS["AGENT_RESOURCE_URL"].replace("${OKTA_ORG_URL}", "{org}") in resource_urls
    agent = next(iter(config.agent_resources))
    assert config.delegation_link(client.client_id, agent) is not None


def test_the_mcp_sdk_client_authenticates_with_its_secret(config):
    client_id, secret = ids.MCP_SDK_CLIENT
    assert config.clients[client_id].client_secret == secret
