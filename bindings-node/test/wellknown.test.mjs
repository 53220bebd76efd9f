// A newcomer's first hour with an embedded provider at /oauth: the mount's root is a landing page, and an
// RFC 8414 client (openid-client's `oauth2` algorithm, the MCP SDKs) finds the metadata at the origin's root
// through `app.use(provider.wellKnown())`.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import express from 'express';
import * as oidc from 'openid-client';

import { Provider } from 'connectivly';

import { freePort, hostExample, serve, tempDir } from './helpers.mjs';

async function open(t, issuer) {
  const dir = tempDir(t);
  const provider = await Provider.open({
    issuer,
    loginUrl: '/connectivly',
    database: `sqlite://${dir}/p.db`,
    providerName: 'Photo Host',
  });
  t.after(() => provider.close());
  return provider;
}

/** An Express app with the provider at /oauth, its well-known router at the root, and a route of its own. */
async function hostApp(t, { wellKnown = true } = {}) {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}/oauth`;
  const provider = await open(t, issuer);
  const app = express();
  if (wellKnown) app.use(provider.wellKnown());
  app.use(express.json()); // a body parser before the root router does no harm: it reads no body
  app.get('/.well-known/security.txt', (req, res) => res.type('text').send('Contact: mailto:sec@example.com\n'));
  app.use('/oauth', provider.express());
  app.use((err, req, res, next) => res.status(500).json({ name: err.name, message: err.message }));
  const url = await serve(t, app, port);
  return { provider, url, issuer };
}

test('GET /oauth/ and /oauth answer the landing page with the discovery link', async (t) => {
  const { url, issuer } = await hostApp(t);
  for (const path of ['/oauth/', '/oauth']) {
    const r = await fetch(`${url}${path}`, { redirect: 'manual' });
    assert.equal(r.status, 200, path);
    assert.match(r.headers.get('content-type'), /^text\/html/);
    const page = await r.text();
    assert.ok(page.includes(`href="${issuer}/.well-known/openid-configuration"`), page);
    assert.ok(page.includes(`href="${issuer}/.well-known/jwks.json"`), page);
    assert.ok(page.includes('<strong>Photo Host</strong>'), page);
    assert.ok(page.includes('X-API-KEY'), page);
    assert.ok(!page.includes('<script'), page);
  }
  const r = await fetch(`${url}/oauth/`, { headers: { accept: 'application/json' } });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), {
    issuer,
    openid_configuration: `${issuer}/.well-known/openid-configuration`,
    oauth_authorization_server: `${issuer}/.well-known/oauth-authorization-server`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
  });
  const head = await fetch(`${url}/oauth/`, { method: 'HEAD' });
  assert.equal(head.status, 200);
});

test('openid-client discovers an issuer with a path by RFC 8414 (algorithm oauth2) through wellKnown()', async (t) => {
  const { provider, url, issuer } = await hostApp(t);
  assert.deepEqual(provider.rootMetadataPaths(), [
    '/.well-known/oauth-authorization-server/oauth',
    '/.well-known/openid-configuration/oauth',
  ]);
  for (const algorithm of ['oauth2', 'oidc']) {
    const config = await oidc.discovery(new URL(issuer), 'some-client', undefined, undefined, {
      algorithm,
      execute: [oidc.allowInsecureRequests],
    });
    assert.equal(config.serverMetadata().issuer, issuer, algorithm);
    assert.equal(config.serverMetadata().token_endpoint, `${issuer}/oauth2/token`, algorithm);
  }
  // The MCP authorization spec's second candidate, by hand.
  let r = await fetch(`${url}/.well-known/openid-configuration/oauth`);
  assert.equal(r.status, 200);
  assert.equal((await r.json()).issuer, issuer);
  r = await fetch(`${url}/.well-known/oauth-authorization-server/oauth`, { method: 'HEAD' });
  assert.equal(r.status, 200);
  r = await fetch(`${url}/.well-known/oauth-authorization-server/oauth`, { method: 'POST', body: '{}' });
  assert.equal(r.status, 405);

  // Everything else passes through to the app: its own well-known file, and a 404 for other paths.
  r = await fetch(`${url}/.well-known/security.txt`);
  assert.equal(r.status, 200);
  assert.equal(await r.text(), 'Contact: mailto:sec@example.com\n');
  r = await fetch(`${url}/.well-known/oauth-authorization-server/other`);
  assert.equal(r.status, 404);
  assert.doesNotMatch(await r.text(), /"issuer"/);
});

test('without wellKnown() the RFC 8414 path form is not found', async (t) => {
  const { issuer } = await hostApp(t, { wellKnown: false });
  await assert.rejects(
    oidc.discovery(new URL(issuer), 'some-client', undefined, undefined, {
      algorithm: 'oauth2',
      execute: [oidc.allowInsecureRequests],
    }),
    (e) => e.message === 'unexpected HTTP response status code' && e.cause?.status === 404,
  );
});

test('wellKnown() mounted below the root is a ConfigError; at a root issuer it passes everything on', async (t) => {
  const port = await freePort();
  const provider = await open(t, `http://127.0.0.1:${port}/oauth`);
  const app = express();
  app.use('/oauth', provider.wellKnown());
  app.use((err, req, res, next) => res.status(500).json({ name: err.name, message: err.message }));
  const url = await serve(t, app, port);
  const r = await fetch(`${url}/oauth/.well-known/openid-configuration`);
  assert.equal(r.status, 500);
  const err = await r.json();
  assert.equal(err.name, 'ConfigError');
  assert.match(err.message, /mount provider\.wellKnown\(\) at the app's root, app\.use\(provider\.wellKnown\(\)\) \(it is mounted at "\/oauth"\)/);

  const rootPort = await freePort();
  const atRoot = await open(t, `http://127.0.0.1:${rootPort}`);
  assert.deepEqual(atRoot.rootMetadataPaths(), []);
  const rootApp = express();
  rootApp.use(atRoot.wellKnown());
  rootApp.get('/.well-known/oauth-authorization-server', (req, res) => res.send('the app'));
  const rootUrl = await serve(t, rootApp, rootPort);
  const passed = await fetch(`${rootUrl}/.well-known/oauth-authorization-server`);
  assert.equal(await passed.text(), 'the app');
});

test('the Express host example serves the RFC 8414 path form and its landing page', async (t) => {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}/oauth`;
  const provider = await open(t, issuer);
  const url = await serve(t, hostExample().createApp(provider), port);
  const config = await oidc.discovery(new URL(issuer), 'some-client', undefined, undefined, {
    algorithm: 'oauth2',
    execute: [oidc.allowInsecureRequests],
  });
  assert.equal(config.serverMetadata().issuer, issuer);
  const r = await fetch(`${url}/oauth/`);
  assert.equal(r.status, 200);
  assert.ok((await r.text()).includes(`href="${issuer}/.well-known/openid-configuration"`));
});
