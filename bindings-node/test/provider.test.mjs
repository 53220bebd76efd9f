// The embedded Provider's JavaScript API: plain result objects, coded errors, bad arguments, closing, and a
// thousand concurrent approvals that leave the event loop free.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import express from 'express';

import * as connectivly from 'connectivly';
import { HttpResponse, Provider } from 'connectivly';

import { freePort, query, redeemCode, serve, tempDir } from './helpers.mjs';

const REDIRECT = 'https://client.example.com/cb';

async function open(t, extra = {}) {
  const dir = tempDir(t);
  const provider = await Provider.open({
    issuer: 'https://id.example.com',
    loginUrl: 'https://app.example.com/connectivly',
    database: `sqlite://${dir}/connectivly.db`,
    scopes: { 'photos:read': 'See your photos' },
    ...extra,
  });
  t.after(() => provider.close());
  return provider;
}

/** Opens an auth session the way a client's browser does; returns its id. */
async function start(provider, clientId, params = {}) {
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    scope: 'openid profile email',
    state: 's1',
    nonce: 'n1',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
    ...params,
  });
  const r = await provider.handle({ method: 'GET', path: '/oauth2/authorize', query: q.toString() });
  assert.equal(r.status, 302, r.body.toString());
  const location = r.headers.find(([k]) => k === 'location')[1];
  return query(location).token;
}

test('results are plain objects with camelCase fields', async (t) => {
  const provider = await open(t);
  assert.equal(provider.issuer, 'https://id.example.com');
  assert.equal(provider.discovery().issuer, 'https://id.example.com');
  assert.ok(provider instanceof connectivly.HostApi);

  const created = await provider.createClient({ name: 'Photo Printer', redirectUris: [REDIRECT], owner: 'user-1' });
  assert.match(created.clientSecret, /^cly_cs_/);
  assert.equal(created.clientId, created.client.clientId);
  const client = await provider.getClient(created.clientId);
  assert.deepEqual(client, created.client);
  assert.deepEqual(client.redirectUris, [REDIRECT]);
  assert.equal(client.owner, 'user-1');
  assert.equal(client.public, false);
  assert.equal(typeof client.createdAt, 'number');
  assert.deepEqual((await provider.listClients('user-1')).map((c) => c.clientId), [created.clientId]);
  assert.deepEqual(await provider.listClients('someone-else'), []);
  const pub = await provider.createClient({ name: 'SPA', redirectUris: [REDIRECT], public: true });
  assert.equal(pub.clientSecret, undefined);

  const sid = await start(provider, created.clientId, { login_hint: 'ann' });
  const s = await provider.authSession(sid);
  assert.equal(s.status, 'pending');
  assert.equal(s.user, undefined);
  assert.equal(s.loginHint, 'ann');
  assert.equal(s.client.name, 'Photo Printer');
  assert.equal(s.redirectUri, REDIRECT);
  assert.deepEqual(s.scopes[0], { name: 'openid', description: 'Confirm your identity' });

  const target = await provider.approve(sid, { user: 'ann', claims: { name: 'Ann' }, skipConsent: true });
  assert.ok(target.startsWith(`${REDIRECT}?code=`), target);
  const r = await redeemCode(provider, created, query(target).code, REDIRECT);
  assert.ok(r instanceof HttpResponse);
  assert.equal(r.status, 200, r.body.toString());
  assert.ok(Buffer.isBuffer(r.body));
  assert.ok(r.headers.some(([k, v]) => k === 'cache-control' && v === 'no-store'));
  const tokens = JSON.parse(r.body.toString());

  const info = await provider.verifyAccessToken(tokens.access_token, ['openid']);
  assert.equal(info.sub, 'ann');
  assert.equal(info.clientId, created.clientId);
  assert.ok(info.scopes.includes('email'));
  assert.equal(info.claims.iss, 'https://id.example.com');
  // A plain object with exactly the documented fields, the same whether verified fresh or from the cache.
  assert.deepEqual(Object.keys(info).sort(), ['claims', 'clientId', 'exp', 'iat', 'jti', 'scopes', 'sub']);
  assert.equal(Object.getPrototypeOf(info), Object.prototype);
  assert.ok(Number.isInteger(info.iat) && info.exp > info.iat);
  assert.equal(info.claims.jti, info.jti);
  assert.equal(info.claims.exp, info.exp);
  assert.deepEqual(await provider.verifyAccessToken(tokens.access_token), info);
  const intro = await provider.introspect(tokens.access_token);
  assert.equal(intro.active, true);
  assert.equal(intro.sub, 'ann');
  assert.equal(intro.tokenType, 'Bearer');
  assert.deepEqual(await provider.introspect('garbage'), { active: false });
  await assert.rejects(provider.verifyAccessToken(tokens.access_token, ['photos:read']), connectivly.InsufficientScope);

  // protect: the token info, or the response to send.
  const ok = await provider.protect('GET', [['Authorization', `Bearer ${tokens.access_token}`]], null, ['openid']);
  assert.deepEqual(ok, info);
  const forbidden = await provider.protect('GET', { authorization: `Bearer ${tokens.access_token}` }, null, ['photos:read']);
  assert.ok(forbidden instanceof HttpResponse);
  assert.equal(forbidden.status, 403);
  const missing = await provider.protect('GET', []);
  assert.equal(missing.status, 401);
  const twice = await provider.protect('GET', [['authorization', 'Bearer a'], ['authorization', 'Bearer b']]);
  assert.equal(twice.status, 400, 'a repeated Authorization header is refused');

  // The rest of the client registry.
  const updated = await provider.updateClient(created.clientId, { name: 'Printer 2', redirectUris: [REDIRECT, 'https://client.example.com/cb2'] });
  assert.equal(updated.name, 'Printer 2');
  assert.equal(updated.redirectUris.length, 2);
  const rotated = await provider.rotateClientSecret(created.clientId);
  assert.notEqual(rotated.clientSecret, created.clientSecret);
  assert.equal(await provider.deleteClient(created.clientId), undefined);
  await assert.rejects(provider.getClient(created.clientId), connectivly.NotFound);
  await assert.rejects(provider.verifyAccessToken(tokens.access_token), connectivly.InvalidToken, 'deleting a client revokes its tokens');

  // Host-API key management.
  const key = await provider.ensureApiKey();
  assert.match(key, /^cly_ak_/);
  assert.equal(await provider.ensureApiKey(), null);
  const newKey = await provider.rotateApiKey();
  assert.notEqual(newKey, key);
});

test('errors are classes with stable codes', async (t) => {
  const provider = await open(t);
  const { clientId } = await provider.createClient({ name: 'A', redirectUris: [REDIRECT] });
  const sid = await start(provider, clientId);

  const e = await provider.authSession('cly_ses_nope').catch((x) => x);
  assert.ok(e instanceof connectivly.SessionNotFound);
  assert.ok(e instanceof connectivly.ConnectivlyError);
  assert.ok(e instanceof Error);
  assert.equal(e.code, 'not_found');
  assert.equal(e.name, 'NotFound');
  assert.equal(connectivly.SessionNotFound, connectivly.NotFound);
  assert.equal(connectivly.NotFound.code, 'not_found');

  await assert.rejects(provider.approve(sid, { user: 'ann', scopes: ['photos:read'] }), { name: 'InvalidScope', code: 'invalid_scope' });
  await assert.rejects(provider.approve(sid, { user: 'ann', claims: { sub: 'someone-else' } }), {
    name: 'InvalidRequest',
    code: 'invalid_request',
  });
  await provider.approve(sid, { user: 'ann' });
  const again = await provider.approve(sid, { user: 'ann' }).catch((x) => x);
  assert.ok(again instanceof connectivly.SessionAlreadyUsed);
  assert.equal(again.code, 'already_used');
  await assert.rejects(provider.deny(sid), connectivly.AlreadyUsed);
  await assert.rejects(provider.verifyAccessToken('not.a.token'), { code: 'invalid_token' });
  await assert.rejects(provider.getClient('cly_ci_missing'), { code: 'not_found' });
  await assert.rejects(provider.createClient({ name: 'Bad', redirectUris: ['javascript:alert(1)'] }), connectivly.InvalidRequest);
  await assert.rejects(provider.deny(await start(provider, clientId), { error: 'made_up' }), connectivly.InvalidRequest);
  const denied = await provider.deny(await start(provider, clientId), { error: 'login_required', errorDescription: 'no' });
  assert.equal(query(denied).error, 'login_required');

  for (const options of [
    { issuer: 'not a url', loginUrl: '/login', database: 'memory:' },
    { issuer: 'https://id.example.com', loginUrl: '/login', database: 'memory:', signingAlg: 'HS256' },
    { issuer: 'https://id.example.com', loginUrl: '/login', database: 'memory:', accessTokenSigningAlg: 'HS256' },
    { issuer: 'https://id.example.com', loginUrl: '/login', database: 'mysql://x' },
    { issuer: 'https://id.example.com', loginUrl: '/login', database: 'memory:', codeTtl: 0 },
    { issuer: 'https://id.example.com', loginUrl: '/login', database: 'memory:', accentColor: 'red' },
    { issuer: 'https://id.example.com', loginUrl: '/login', database: 'memory:', providerLogoUri: 'https://cdn.example/l.png' },
    { issuer: 'https://id.example.com', loginUrl: '/login', database: 'memory:', databaseMaxConnections: 0 },
    { issuer: 'https://id.example.com', loginUrl: '/login', database: 'memory:', databaseMaxConnections: -1 },
    { issuer: 'https://id.example.com', loginUrl: '/login', database: 'memory:', databaseMaxConnections: 2 ** 32 },
    { issuer: 'https://id.example.com', loginUrl: '/login', database: 'memory:', databaseAcquireTimeout: 0 },
  ]) {
    await assert.rejects(Provider.open(options), { name: 'ConfigError', code: 'config_error' }, JSON.stringify(options));
  }
});

test('bad argument types reject with a TypeError and never crash', async (t) => {
  const provider = await open(t);
  const { clientId } = await provider.createClient({ name: 'A', redirectUris: [REDIRECT] });
  const sid = await start(provider, clientId);
  const typeError = { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' };

  const calls = [
    () => provider.approve(sid, { user: 42 }),
    () => provider.approve(sid),
    () => provider.approve(sid, 'ann'),
    () => provider.approve(sid, { user: 'ann', claims: ['not', 'a', 'dict'] }),
    () => provider.approve(sid, { user: 'ann', claims: { when: () => 1 } }),
    () => provider.approve(sid, { user: 'ann', skip_consent: true }),
    () => provider.approve(sid, { user: 'ann', scopes: 'openid' }),
    () => provider.approve(sid, { user: 'ann', authTime: 'yesterday' }),
    () => provider.approve(42, { user: 'ann' }),
    () => provider.authSession(null),
    () => provider.authSession({}),
    () => provider.createClient({ name: 'x', redirectUris: 'not-an-array' }),
    () => provider.createClient({ name: 7, redirectUris: [REDIRECT] }),
    () => provider.createClient({ redirectUris: [REDIRECT] }),
    () => provider.createClient(),
    () => provider.updateClient(clientId, { redirectUris: [1] }),
    () => provider.deny(sid, 'access_denied'),
    () => provider.verifyAccessToken(undefined),
    () => provider.verifyAccessToken('t', 'openid'),
    () => provider.protect('GET', 'authorization: Bearer x'),
    () => provider.protect('GET', [], 42),
    () => provider.handle({ method: 'GET' }),
    () => provider.handle({ method: 'GET', path: '/', headers: [['a']] }),
    () => provider.listClients(5),
    () => Provider.open({ issuer: 'https://id.example.com', loginUrl: '/l', database: 'memory:', scopes: ['photos'] }),
    () => Provider.open({ issuer: 'https://id.example.com', loginUrl: '/l', database: 'memory:', codeTtl: '60' }),
    () => Provider.open(),
  ];
  for (const [i, call] of calls.entries()) {
    const p = call();
    assert.ok(p instanceof Promise, `call ${i} returns a Promise`);
    await assert.rejects(p, typeError, `call ${i}: ${call}`);
  }
  assert.throws(() => new Provider(), TypeError);
  assert.throws(() => new connectivly.RemoteProvider(), TypeError);
  // None of that consumed the session.
  assert.equal((await provider.authSession(sid)).status, 'pending');
});

test('a closed provider rejects with ProviderClosed', async (t) => {
  const dir = tempDir(t);
  const provider = await Provider.open({ issuer: 'https://id.example.com', loginUrl: '/login', database: `sqlite://${dir}/c.db` });
  await provider.listClients();
  await provider.close();
  for (const call of [
    () => provider.listClients(),
    () => provider.approve('cly_ses_x', { user: 'ann' }),
    () => provider.handle({ method: 'GET', path: '/.well-known/jwks.json' }),
    () => provider.ensureApiKey(),
  ]) {
    await assert.rejects(call(), { name: 'ProviderClosed', code: 'closed' });
  }
  assert.throws(() => provider.discovery(), connectivly.ProviderClosed);
  await provider.close(); // closing twice is fine
});

test('a timer keeps firing while 1,000 approvals are in flight', async (t) => {
  const provider = await open(t);
  const { clientId } = await provider.createClient({ name: 'A', redirectUris: [REDIRECT] });
  const sids = await Promise.all(Array.from({ length: 1000 }, () => start(provider, clientId)));

  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const results = await Promise.allSettled(sids.map((sid) => provider.approve(sid, { user: 'ann', skipConsent: true })));
  clearInterval(timer);

  assert.equal(results.length, 1000);
  const rejected = results.filter((r) => r.status === 'rejected');
  assert.deepEqual(rejected, []);
  assert.equal(new Set(results.map((r) => query(r.value).code)).size, 1000);
  assert.ok(ticks > 0, 'the event loop ran timers while the approvals were in flight');
  t.diagnostic(`${ticks} timer ticks during 1,000 approvals`);

  // Racing approvals of one session: exactly one wins.
  const sid = await start(provider, clientId);
  const race = await Promise.allSettled(Array.from({ length: 16 }, () => provider.approve(sid, { user: 'ann', skipConsent: true })));
  assert.equal(race.filter((r) => r.status === 'fulfilled').length, 1);
  assert.ok(race.filter((r) => r.status === 'rejected').every((r) => r.reason instanceof connectivly.AlreadyUsed));
});

test('requireToken reads a form-body token; express() refuses a wrong mount path', async (t) => {
  const provider = await open(t);
  const created = await provider.createClient({ name: 'A', redirectUris: [REDIRECT] });
  const sid = await start(provider, created.clientId, { scope: 'openid photos:read' });
  const target = await provider.approve(sid, { user: 'ann', skipConsent: true });
  const tr = await provider.handle({
    method: 'POST',
    path: '/oauth2/token',
    headers: [['content-type', 'application/x-www-form-urlencoded']],
    body: Buffer.from(
      new URLSearchParams({
        grant_type: 'authorization_code',
        code: query(target).code,
        redirect_uri: REDIRECT,
        code_verifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
        client_id: created.clientId,
        client_secret: created.clientSecret,
      }).toString(),
    ),
  });
  const at = JSON.parse(tr.body.toString()).access_token;

  const app = express();
  app.post('/api/upload', provider.requireToken('photos:read'), (req, res) => res.json({ sub: req.token.sub, body: req.body }));
  app.use('/wrong', provider.express()); // the issuer's path is "/"
  app.use((err, req, res, next) => res.status(500).json({ name: err.name, message: err.message }));
  const url = await serve(t, app, await freePort());

  let r = await fetch(`${url}/api/upload`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `access_token=${at}&title=beach`,
  });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { sub: 'ann', body: { access_token: at, title: 'beach' } });
  r = await fetch(`${url}/api/upload`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${at}` },
    body: `access_token=${at}`,
  });
  assert.equal(r.status, 400, 'a token sent twice is refused');
  r = await fetch(`${url}/api/upload`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `access_token=${at}&data=${'x'.repeat(70 * 1024)}`,
  });
  assert.equal(r.status, 413);

  r = await fetch(`${url}/wrong/.well-known/openid-configuration`);
  assert.equal(r.status, 500);
  let err = await r.json();
  assert.equal(err.name, 'ConfigError');
  assert.match(err.message, /mount provider.express\(\) at "\/"/);

  // Mounted behind a body parser, the raw body is gone: a loud error instead of a wrong answer.
  const parsed = express();
  parsed.use(express.urlencoded({ extended: false }));
  parsed.use('/', provider.express());
  parsed.use((e, req, res, next) => res.status(500).json({ name: e.name, message: e.message }));
  const parsedUrl = await serve(t, parsed, await freePort());
  r = await fetch(`${parsedUrl}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=authorization_code&code=x',
  });
  err = await r.json();
  assert.equal(err.name, 'ConfigError');
  assert.match(err.message, /before any body parser/);
  r = await fetch(`${parsedUrl}/.well-known/jwks.json`);
  assert.equal(r.status, 200, 'requests without a body are fine');
});

test('access tokens can be signed with their own algorithm', async (t) => {
  const provider = await open(t, { accessTokenSigningAlg: 'ES256' });
  const created = await provider.createClient({ name: 'Photo Printer', redirectUris: [REDIRECT] });
  const target = await provider.approve(await start(provider, created.clientId), { user: 'ann', skipConsent: true });
  const r = await redeemCode(provider, created, query(target).code, REDIRECT);
  const tokens = JSON.parse(r.body.toString());
  const alg = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString()).alg;
  assert.equal(alg(tokens.access_token), 'ES256');
  assert.equal(alg(tokens.id_token), 'RS256');
  assert.equal((await provider.verifyAccessToken(tokens.access_token)).sub, 'ann');
});

test('option errors name the option in camelCase and suggest the nearest one', async () => {
  const base = { issuer: 'https://id.example.com', loginUrl: '/login', database: 'memory:' };
  const rejects = (extra, expected) => assert.rejects(Provider.open({ ...base, ...extra }), expected, JSON.stringify(extra));
  await rejects({ acessTokenTtl: 60 }, {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_TYPE',
    message: 'Provider.open: unknown option "acessTokenTtl"; did you mean "accessTokenTtl"?',
  });
  await rejects({ access_token_ttl: 60 }, { name: 'TypeError', message: /did you mean "accessTokenTtl"\?/ });
  await rejects({ redirectUrl: '/login' }, { name: 'TypeError', message: /did you mean "loginUrl"\?/ });
  await rejects({ port: 3000 }, { name: 'TypeError', message: /standalone server \(CONNECTIVLY_PORT\)/ });
  // A wrong type is a TypeError that names the option, not napi's "Failed to convert napi value".
  await rejects({ sessionTtl: '900' }, {
    name: 'TypeError',
    message: 'Provider.open: sessionTtl must be a number of seconds, not a string',
  });
  await rejects({ requirePkce: 'yes' }, { name: 'TypeError', message: /requirePkce must be true or false/ });
  // Validation errors name the option as written here too.
  await rejects({ apiKey: 'short' }, { name: 'ConfigError', message: 'apiKey must be at least 16 characters' });
  await rejects({ loginUrl: 'localhost:4481/connectivly' }, { name: 'ConfigError', message: /^loginUrl: "localhost:4481\/connectivly" is not an absolute http\(s\) URL/ });
  await rejects({ scopes: { openid: 'Sign in' } }, { name: 'ConfigError', message: /^scopes: "openid" is built in/ });
  await rejects({ scopes: { 'photos:read': '' } }, { name: 'ConfigError', message: /needs a description/ });
  await rejects({ sessionTtl: 0 }, { name: 'ConfigError', message: 'sessionTtl must be a positive number of seconds, not 0' });
  // The rate limits are settings of the embedded provider too; algorithms are read in any case.
  const p = await Provider.open({ ...base, signingAlg: 'es256', failedAuthLimitPerClient: 5, failedLimitPerAddress: 0 });
  assert.deepEqual(p.discovery().id_token_signing_alg_values_supported.sort(), ['ES256', 'RS256']);
  await p.close();
});

test('the ProviderOptions type lists every setting of the core', async () => {
  const { readFileSync } = await import('node:fs');
  const { createRequire } = await import('node:module');
  const native = createRequire(import.meta.url)('../native.js');
  const dts = readFileSync(new URL('../native.d.ts', import.meta.url), 'utf8');
  const body = /export interface ProviderOptions \{([\s\S]*?)\n\}/.exec(dts);
  assert.ok(body, 'native.d.ts declares ProviderOptions');
  const typed = [...body[1].matchAll(/^\s+(\w+)\??:/gm)].map((m) => m[1]).sort();
  assert.deepEqual(typed, [...native.settingNames()].sort());
});
