// The Express host example over real HTTP, driven by a certified relying-party library (openid-client).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Provider } from 'connectivly';

import { Browser, CALLBACK, freePort, hostExample, serve, signIn, signInThrough, tempDir } from './helpers.mjs';

async function hostWithEmbeddedProvider(t) {
  const dir = tempDir(t);
  const port = await freePort();
  const provider = await Provider.open({
    issuer: `http://127.0.0.1:${port}/oauth`,
    loginUrl: '/connectivly',
    database: `sqlite://${dir}/host.db`,
    scopes: { 'photos:read': 'See your photos' },
  });
  t.after(() => provider.close());
  const url = await serve(t, hostExample().createApp(provider), port);
  return { provider, url, issuer: `${url}/oauth` };
}

test('openid-client signs in through the Express host and calls its API', async (t) => {
  const { provider, url, issuer } = await hostWithEmbeddedProvider(t);
  const created = await provider.createClient({ name: 'Photo Printer', redirectUris: [CALLBACK] });

  const { tokens, claims, userinfo } = await signIn(issuer, created.clientId, created.clientSecret, 'openid profile email photos:read');
  assert.equal(claims.iss, issuer);
  assert.equal(claims.aud, created.clientId);
  assert.equal(claims.sub, 'ann');
  assert.equal(claims.name, 'Ann Example');
  assert.deepEqual(userinfo, { sub: 'ann', name: 'Ann Example', email: 'ann@example.com', email_verified: true });

  const at = tokens.access_token;
  let r = await fetch(`${url}/api/photos`, { headers: { authorization: `Bearer ${at}` } });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { owner: 'ann', photos: ['/photos/ann/1.jpg', '/photos/ann/2.jpg'] });

  r = await fetch(`${url}/api/photos`, { headers: { authorization: 'Bearer not-a-token' } });
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate'), /^Bearer .*error="invalid_token"/);

  r = await fetch(`${url}/api/photos`);
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate'), /^Bearer realm=/);

  const info = await provider.verifyAccessToken(at, ['photos:read']);
  assert.equal(info.sub, 'ann');
  assert.equal(info.clientId, created.clientId);
});

test('a token without photos:read gets 403; the user who denies sends access_denied', async (t) => {
  const { provider, url, issuer } = await hostWithEmbeddedProvider(t);
  const created = await provider.createClient({ name: 'Profile Reader', redirectUris: [CALLBACK] });

  const { tokens, claims } = await signIn(issuer, created.clientId, created.clientSecret, 'openid profile', {
    username: 'bob',
    password: 'canwefixit',
  });
  assert.equal(claims.sub, 'bob');
  assert.equal(claims.email, undefined, 'email is not released without the email scope');
  const r = await fetch(`${url}/api/photos`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(r.status, 403);
  assert.match(r.headers.get('www-authenticate'), /error="insufficient_scope"/);

  const start = new URL(`${issuer}/oauth2/authorize`);
  start.search = new URLSearchParams({
    response_type: 'code',
    client_id: created.clientId,
    redirect_uri: CALLBACK,
    scope: 'openid',
    state: 'st',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGjSstw-cM',
    code_challenge_method: 'S256',
  }).toString();
  const denied = new URL(await signInThrough(start.href, { decision: 'deny' }));
  assert.equal(denied.searchParams.get('error'), 'access_denied');
  assert.equal(denied.searchParams.get('state'), 'st');
  assert.equal(denied.searchParams.get('iss'), issuer);
});

test('the mounted router hands requests to the core untouched', async (t) => {
  const { url, issuer } = await hostWithEmbeddedProvider(t);
  let r = await fetch(`${issuer}/.well-known/openid-configuration`);
  assert.equal(r.status, 200);
  const disc = await r.json();
  assert.equal(disc.issuer, issuer);
  assert.equal(disc.token_endpoint, `${issuer}/oauth2/token`);

  r = await fetch(`${issuer}/.well-known/jwks.json`);
  assert.ok((await r.json()).keys.length >= 1);

  // Unknown client: an error page, never a redirect.
  r = await fetch(`${issuer}/oauth2/authorize?response_type=code&client_id=nope&redirect_uri=${encodeURIComponent(CALLBACK)}`, {
    redirect: 'manual',
  });
  assert.equal(r.status, 400);
  assert.match(r.headers.get('content-type'), /text\/html/);

  // Bodies over 64 KiB: 413, whether announced or streamed.
  r = await fetch(`${issuer}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'a='.padEnd(70 * 1024, 'x'),
  });
  assert.equal(r.status, 413);
  assert.equal((await r.json()).error, 'payload_too_large');
  const chunks = new ReadableStream({
    start(controller) {
      for (let i = 0; i < 10; i++) controller.enqueue(new Uint8Array(8 * 1024).fill(120));
      controller.close();
    },
  });
  r = await fetch(`${issuer}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: chunks,
    duplex: 'half',
  });
  assert.equal(r.status, 413);
  assert.equal((await r.json()).error, 'payload_too_large');

  // The token endpoint answers OAuth errors as JSON.
  r = await fetch(`${issuer}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=authorization_code&code=nope',
  });
  assert.ok(r.status === 400 || r.status === 401, String(r.status));
  assert.ok((await r.json()).error);

  // The host's own routes are untouched, and an unknown session gives the host's error page.
  r = await fetch(`${url}/`);
  assert.match(await r.text(), /Photo Host/);
  const browser = new Browser();
  const login = await browser.request(`${url}/login`, { method: 'POST', form: { username: 'ann', password: 'wonderland', next: '/' } });
  assert.equal(login.status, 303);
  const wrong = await browser.request(`${url}/login`, { method: 'POST', form: { username: 'ann', password: 'nope', next: '/' } });
  assert.equal(wrong.status, 401);
  const unknown = await browser.request(`${url}/connectivly?token=cly_ses_unknown`);
  assert.equal(unknown.status, 400);
  assert.match(unknown.text, /cannot be used \(not_found\)/);
});

test('prompt=login sends a signed-in user through the host login again, then on to the app', async (t) => {
  const { provider, url, issuer } = await hostWithEmbeddedProvider(t);
  const created = await provider.createClient({ name: 'Bank', redirectUris: [CALLBACK] });
  const browser = new Browser();
  const authorize = (extra) =>
    `${issuer}/oauth2/authorize?${new URLSearchParams({
      response_type: 'code',
      client_id: created.clientId,
      redirect_uri: CALLBACK,
      scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      ...extra,
    })}`;
  // Follows redirects and forms like a browser; counts the host's login forms it had to fill in.
  const walk = async (start) => {
    let logins = 0;
    let r = await browser.request(start);
    for (let i = 0; i < 12; i++) {
      if (r.location?.startsWith(CALLBACK)) return { logins, callback: r.location };
      if (r.status === 200 && r.text.includes('name="password"')) {
        logins += 1;
        const next = /name="next" value="([^"]*)"/.exec(r.text)[1].replaceAll('&amp;', '&');
        r = await browser.request(`${url}/login`, { method: 'POST', form: { username: 'ann', password: 'wonderland', next } });
      } else if (r.status === 200 && r.text.includes('name="csrf"')) {
        const hidden = Object.fromEntries([...r.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1], m[2]]));
        const action = /<form method="post" action="([^"]*)"/.exec(r.text)[1].replaceAll('&amp;', '&');
        r = await browser.request(new URL(action, `${url}/`).href, { method: 'POST', form: { ...hidden, decision: 'allow' } });
      } else {
        assert.ok([301, 302, 303].includes(r.status), `${r.status} ${r.text.slice(0, 300)}`);
        r = await browser.request(r.location);
      }
    }
    throw new Error('too many redirects');
  };
  assert.equal((await walk(authorize({}))).logins, 1);
  assert.equal((await walk(authorize({}))).logins, 0, 'signed in already');
  await new Promise((r) => setTimeout(r, 1100)); // auth_time has whole seconds: the sign-in must be older
  const fresh = await walk(authorize({ prompt: 'login' }));
  assert.equal(fresh.logins, 1, 'prompt=login: signed in again rather than a 500');
  assert.ok(new URL(fresh.callback).searchParams.get('code'), fresh.callback);
});
