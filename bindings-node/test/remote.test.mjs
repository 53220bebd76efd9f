// The same host code against the standalone server, through RemoteProvider.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as connectivly from 'connectivly';
import { RemoteProvider } from 'connectivly';

import { CALLBACK, freePort, hostExample, serve, signIn, startServer, tempDir } from './helpers.mjs';

test('the Express host example with a RemoteProvider', async (t) => {
  const dir = tempDir(t);
  const port = await freePort();
  const server = await startServer(t, dir, `http://127.0.0.1:${port}/connectivly`);
  const remote = await RemoteProvider.connect(server.url, { apiKey: server.apiKey });
  t.after(() => remote.close());
  assert.ok(remote instanceof connectivly.HostApi);
  assert.equal(remote.url, server.url);
  const url = await serve(t, hostExample().createApp(remote), port);

  const created = await remote.createClient({ name: 'Photo Printer', redirectUris: [CALLBACK] });
  assert.ok(created.clientSecret.startsWith('cly_cs_'));
  const { tokens, claims, userinfo } = await signIn(server.url, created.clientId, created.clientSecret, 'openid profile email photos:read');
  assert.equal(claims.iss, server.url);
  assert.equal(claims.sub, 'ann');
  assert.equal(userinfo.email, 'ann@example.com');

  const at = tokens.access_token;
  let r = await fetch(`${url}/api/photos`, { headers: { authorization: `Bearer ${at}` } });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).owner, 'ann');
  r = await fetch(`${url}/api/photos`);
  assert.equal(r.status, 401);

  const info = await remote.verifyAccessToken(at, ['photos:read']);
  assert.equal(info.sub, 'ann');
  await assert.rejects(remote.verifyAccessToken(at, ['admin']), connectivly.InsufficientScope);
  await assert.rejects(remote.verifyAccessToken('garbage'), connectivly.InvalidToken);
  const intro = await remote.introspect(at);
  assert.equal(intro.active, true);
  assert.equal(intro.sub, 'ann');

  // Without photos:read: 403 through the server's introspection as well.
  const narrow = await signIn(server.url, created.clientId, created.clientSecret, 'openid');
  r = await fetch(`${url}/api/photos`, { headers: { authorization: `Bearer ${narrow.tokens.access_token}` } });
  assert.equal(r.status, 403);
});

test('remote errors carry the same codes as embedded ones', async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, dir, 'http://127.0.0.1:9/connectivly');
  const remote = await RemoteProvider.connect(server.url, { apiKey: server.apiKey });

  const e = await remote.authSession('cly_ses_missing').catch((x) => x);
  assert.ok(e instanceof connectivly.SessionNotFound);
  assert.equal(e.code, 'not_found');
  await assert.rejects(remote.createClient({ name: 'x', redirectUris: ['javascript:alert(1)'] }), connectivly.InvalidRequest);
  const wrongKey = await RemoteProvider.connect(server.url, { apiKey: 'wrong-key-wrong-key' });
  await assert.rejects(wrongKey.listClients(), { name: 'Unauthorized', code: 'unauthorized' });
  const nowhere = await RemoteProvider.connect('http://127.0.0.1:9', { apiKey: 'k'.repeat(20) });
  await assert.rejects(nowhere.listClients(), { name: 'RemoteError', code: 'remote_error' });
  await assert.rejects(RemoteProvider.connect('not a url', { apiKey: 'k' }), { name: 'ConfigError', code: 'config_error' });
  await assert.rejects(RemoteProvider.connect(server.url, {}), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });

  const c = await remote.createClient({ name: 'x', redirectUris: ['https://x.example/cb'], owner: 'u-1' });
  assert.deepEqual(await remote.getClient(c.clientId), c.client);
  assert.deepEqual((await remote.listClients('u-1')).map((x) => x.clientId), [c.clientId]);
  assert.equal((await remote.updateClient(c.clientId, { name: 'y' })).name, 'y');
  assert.notEqual((await remote.rotateClientSecret(c.clientId)).clientSecret, c.clientSecret);
  await remote.deleteClient(c.clientId);
  await assert.rejects(remote.getClient(c.clientId), connectivly.NotFound);

  await remote.close();
  await assert.rejects(remote.listClients(), { name: 'ProviderClosed', code: 'closed' });
  await remote.close();
});
