// The security review's findings (issue 16) in the embedded Node shape: the consent page needs the ticket
// that approve() returned *and* the binding cookie of the browser that started the flow; prompt=login needs a
// fresh authTime; PKCE is required by default; the SQLite file and its key file are private to this user.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';

import * as connectivly from 'connectivly';
import { Provider } from 'connectivly';

import { query, tempDir } from './helpers.mjs';

const REDIRECT = 'https://client.example.com/cb';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
const COOKIE = '__Host-connectivly_binding'; // https issuer at the origin's root

async function open(t, extra = {}) {
  const dir = tempDir(t);
  const provider = await Provider.open({
    issuer: 'https://id.example.com',
    loginUrl: 'https://app.example.com/connectivly',
    database: `sqlite://${dir}/connectivly.db`,
    ...extra,
  });
  t.after(() => provider.close());
  return { provider, dir };
}

const header = (r, name) => r.headers.find(([k]) => k === name)?.[1];

/** GET /authorize as a browser: the session id handed to the host, and the browser's cookie header. */
async function authorize(provider, clientId, params = {}) {
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    scope: 'openid',
    state: 's1',
    code_challenge: CHALLENGE,
    code_challenge_method: 'S256',
    ...params,
  });
  const r = await provider.handle({ method: 'GET', path: '/oauth2/authorize', query: q.toString() });
  assert.equal(r.status, 302, r.body.toString());
  const cookie = header(r, 'set-cookie').split(';')[0];
  assert.ok(cookie.startsWith(`${COOKIE}=cly_bn_`), cookie);
  return { sid: query(header(r, 'location')).token, cookie };
}

function consent(provider, url, cookie) {
  const u = new URL(url);
  const headers = cookie ? [['cookie', cookie]] : [];
  return provider.handle({ method: 'GET', path: u.pathname, query: u.search.slice(1), headers });
}

test('a sign-in approved in another browser can be finished by neither browser', async (t) => {
  const { provider } = await open(t);
  const client = await provider.createClient({ name: 'App', redirectUris: [REDIRECT] });
  const attacker = await authorize(provider, client.clientId, { prompt: 'consent' });
  const url = await provider.approve(attacker.sid, { user: 'victim' });
  assert.match(url, /\?ticket=cly_ct_/);
  assert.equal((await consent(provider, url.split('?')[0], attacker.cookie)).status, 403, 'cookie without ticket');
  assert.equal((await consent(provider, url, null)).status, 403, 'ticket without cookie');
  assert.equal((await consent(provider, url, attacker.cookie)).status, 409, 'the sign-in was ended');
  assert.equal((await provider.authSession(attacker.sid)).status, 'denied');
});

test('the same browser goes authorize → login → consent → code', async (t) => {
  const { provider } = await open(t);
  const client = await provider.createClient({ name: 'App', redirectUris: [REDIRECT] });
  const { sid, cookie } = await authorize(provider, client.clientId);
  const url = await provider.approve(sid, { user: 'ann' });
  const page = await consent(provider, url, cookie);
  assert.equal(page.status, 200);
  const html = page.body.toString();
  const field = (name) => html.split(`name="${name}" value="`)[1].split('"')[0];
  const r = await provider.handle({
    method: 'POST',
    path: new URL(url).pathname,
    headers: [['cookie', cookie], ['content-type', 'application/x-www-form-urlencoded']],
    body: Buffer.from(new URLSearchParams({ ticket: field('ticket'), csrf: field('csrf'), decision: 'allow' }).toString()),
  });
  assert.equal(r.status, 302);
  const location = header(r, 'location');
  assert.ok(location.startsWith(REDIRECT) && query(location).code && !location.includes('ticket'), location);
});

test('prompt=login needs a fresh authTime, refused with login_required', async (t) => {
  const { provider } = await open(t);
  const client = await provider.createClient({ name: 'App', redirectUris: [REDIRECT] });
  const { sid } = await authorize(provider, client.clientId, { prompt: 'login' });
  await assert.rejects(provider.approve(sid, { user: 'ann', skipConsent: true }), (e) => {
    assert.ok(e instanceof connectivly.LoginRequired);
    assert.equal(e.code, 'login_required');
    return true;
  });
  const old = Math.floor(Date.now() / 1000) - 3600;
  await assert.rejects(provider.approve(sid, { user: 'ann', skipConsent: true, authTime: old }), { code: 'login_required' });
  const target = await provider.approve(sid, { user: 'ann', skipConsent: true, authTime: Math.floor(Date.now() / 1000) });
  assert.ok(query(target).code);
});

test('PKCE is required from confidential clients too', async (t) => {
  const { provider } = await open(t);
  const client = await provider.createClient({ name: 'App', redirectUris: [REDIRECT] });
  const q = new URLSearchParams({ response_type: 'code', client_id: client.clientId, redirect_uri: REDIRECT, state: 's' });
  const r = await provider.handle({ method: 'GET', path: '/oauth2/authorize', query: q.toString() });
  assert.equal(query(header(r, 'location')).error, 'invalid_request');
});

test('the database and its key file are private; a readable one is refused', async (t) => {
  const { provider, dir } = await open(t);
  await provider.createClient({ name: 'App', redirectUris: [REDIRECT] });
  for (const f of ['connectivly.db', 'connectivly.db.key', 'connectivly.db-wal']) {
    assert.equal(fs.statSync(`${dir}/${f}`).mode & 0o077, 0, f);
  }
  const shared = `${dir}/shared.db`;
  await (await Provider.open({ issuer: 'https://id.example.com', loginUrl: '/login', database: `sqlite://${shared}` })).close();
  fs.chmodSync(shared, 0o644);
  await assert.rejects(Provider.open({ issuer: 'https://id.example.com', loginUrl: '/login', database: `sqlite://${shared}` }), (e) => {
    assert.equal(e.code, 'config_error');
    assert.match(e.message, /chmod 600/);
    return true;
  });
  const ok = await Provider.open({
    issuer: 'https://id.example.com',
    loginUrl: '/login',
    database: `sqlite://${shared}`,
    allowReadableDatabase: true,
  });
  await ok.close();
});
