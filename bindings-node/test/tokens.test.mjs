// Refresh, client_credentials, revocation, grants and keys through the JavaScript API: the same
// operations, under the same names, as the Python package and the server's host API.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as connectivly from 'connectivly';
import { Provider } from 'connectivly';

import { query, tempDir } from './helpers.mjs';

const REDIRECT = 'https://client.example.com/cb';

async function open(t, extra = {}) {
  const provider = await Provider.open({
    issuer: 'https://id.example.com',
    loginUrl: 'https://app.example.com/connectivly',
    database: `sqlite://${tempDir(t)}/tokens.db`,
    scopes: { 'photos:read': 'See your photos' },
    ...extra,
  });
  t.after(() => provider.close());
  return provider;
}

async function token(provider, client, form) {
  // codeFor sends the RFC 7636 Appendix B challenge; this is its verifier.
  if (form.grant_type === 'authorization_code') form = { code_verifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk', ...form };
  const r = await provider.handle({
    method: 'POST',
    path: '/oauth2/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...form, client_id: client.clientId, client_secret: client.clientSecret }).toString(),
  });
  return { status: r.status, body: JSON.parse(r.body.toString()) };
}

async function codeFor(provider, client, scope, approval = {}) {
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: client.clientId,
    redirect_uri: REDIRECT,
    scope,
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  });
  const r = await provider.handle({ method: 'GET', path: '/oauth2/authorize', query: q.toString() });
  const sid = query(r.headers.find(([k]) => k === 'location')[1]).token;
  return query(await provider.approve(sid, { user: 'ann', skipConsent: true, ...approval })).code;
}

test('client_credentials → introspection → revoke → inactive → verifyAccessToken refuses', async (t) => {
  const provider = await open(t);
  const svc = await provider.createClient({ name: 'Backend', redirectUris: [REDIRECT], allowedScopes: ['photos:read'] });
  assert.deepEqual(svc.client.allowedScopes, ['photos:read']);
  const { status, body } = await token(provider, svc, { grant_type: 'client_credentials', scope: 'photos:read' });
  assert.equal(status, 200, JSON.stringify(body));
  const intro = await provider.introspect(body.access_token);
  assert.equal(intro.active, true);
  assert.equal(intro.scope, 'photos:read');
  assert.equal((await provider.verifyAccessToken(body.access_token, ['photos:read'])).sub, svc.clientId);
  await provider.revoke(body.access_token);
  assert.deepEqual(await provider.introspect(body.access_token), { active: false });
  await assert.rejects(provider.verifyAccessToken(body.access_token), connectivly.InvalidToken);
});

test('refresh rotates; replaying the old token kills the new one', async (t) => {
  const provider = await open(t);
  const client = await provider.createClient({ name: 'App', redirectUris: [REDIRECT] });
  const code = await codeFor(provider, client, 'openid offline_access');
  const first = (await token(provider, client, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })).body;
  assert.match(first.refresh_token, /^cly_rt_/);
  const second = await token(provider, client, { grant_type: 'refresh_token', refresh_token: first.refresh_token });
  assert.equal(second.status, 200);
  const replay = await token(provider, client, { grant_type: 'refresh_token', refresh_token: first.refresh_token });
  assert.equal(replay.body.error, 'invalid_grant');
  const after = await token(provider, client, { grant_type: 'refresh_token', refresh_token: second.body.refresh_token });
  assert.equal(after.status, 400);
  await assert.rejects(provider.verifyAccessToken(second.body.access_token), connectivly.InvalidToken);
});

test('grants, user revocation and key rotation', async (t) => {
  const provider = await open(t);
  const client = await provider.createClient({ name: 'App', redirectUris: [REDIRECT] });
  const code = await codeFor(provider, client, 'openid email', { remember: true });
  const grants = await provider.listGrants('ann');
  assert.deepEqual(grants.map((g) => [g.clientId, g.clientName, g.scopes]), [[client.clientId, 'App', ['openid', 'email']]]);
  const tok = (await token(provider, client, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })).body;
  await provider.revokeGrant('ann', client.clientId);
  assert.deepEqual(await provider.listGrants('ann'), []);
  await assert.rejects(provider.verifyAccessToken(tok.access_token), connectivly.InvalidToken);
  await assert.rejects(provider.revokeGrant('ann', client.clientId), connectivly.NotFound);

  const code2 = await codeFor(provider, client, 'openid');
  const tok2 = (await token(provider, client, { grant_type: 'authorization_code', code: code2, redirect_uri: REDIRECT })).body;
  const oldKids = provider.signingKeys().map((k) => k.kid);
  const fresh = await provider.rotateKeys();
  assert.equal(fresh.length, 1);
  assert.ok(!oldKids.includes(fresh[0].kid));
  assert.equal((await provider.verifyAccessToken(tok2.access_token)).sub, 'ann', 'signed before rotation, still valid');
  assert.ok((await provider.revokeUser('ann')) >= 1);
  assert.equal((await provider.introspect(tok2.access_token)).active, false);
  await provider.revokeClient(client.clientId);
  await assert.rejects(provider.revokeUser(42), TypeError);
});
