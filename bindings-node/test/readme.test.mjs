// The README's Express snippet, run as written — its own login stand-in included, nothing injected; only its
// database file and port are replaced: a snippet that drifted from the package is a bug. The flow ends with a
// reload of the approval URL, which must show the snippet's "sign in again" page (a 4xx), not a stack trace.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Provider } from 'connectivly';

import { Browser, freePort, hostExample, serve, tempDir } from './helpers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const FRIENDLY = /already used or has expired/;

/** The js block under the Node heading, with its database in `dir` and its server on a free loopback port. */
function readmeSnippet(dir) {
  const readme = readFileSync(join(here, '..', '..', 'README.md'), 'utf8');
  const start = readme.indexOf('## Node: the provider inside your Express app');
  assert.ok(start >= 0, 'the README has the Node heading');
  const block = /```js\n([\s\S]*?)```/.exec(readme.slice(start));
  assert.ok(block, 'a js block follows the Node heading');
  let snippet = block[1];
  for (const [from, to] of [
    ["'sqlite://connectivly.db'", JSON.stringify(`sqlite://${dir}/readme.db`)],
    ['app.listen(5000);', "const server = app.listen(0, '127.0.0.1');"],
  ]) {
    assert.ok(snippet.includes(from), `the snippet has ${from}`);
    snippet = snippet.replace(from, to);
  }
  return `${snippet}\nexport { app, provider, server };\n`;
}

/** A cookie jar of one cookie name, enough for the stand-in's session. */
function jar() {
  let cookie = null;
  return {
    async fetch(url, init = {}) {
      const headers = { ...(init.headers || {}), ...(cookie ? { cookie } : {}) };
      const r = await fetch(url, { redirect: 'manual', ...init, headers });
      const set = r.headers.get('set-cookie');
      if (set) cookie = set.split(';')[0];
      return r;
    },
    get cookie() {
      return cookie;
    },
  };
}

test('the README Express snippet: its login stand-in, approval, a friendly page on reload, the guarded API', async (t) => {
  const dir = tempDir(t);
  // The file lives inside the package so that `import ... from 'connectivly'` resolves to it.
  const file = join(here, `.readme-snippet-${process.pid}.mjs`);
  t.after(() => rmSync(file, { force: true }));
  writeFileSync(file, readmeSnippet(dir));
  const { provider, server } = await import(file);
  t.after(() => provider.close());
  t.after(() => new Promise((r) => server.close(r)));
  if (!server.listening) await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${server.address().port}`;

  const disc = await (await fetch(`${base}/oauth/.well-known/openid-configuration`)).json();
  assert.equal(disc.issuer, 'http://localhost:5000/oauth');
  const client = await provider.createClient({ name: 'Printer', redirectUris: ['https://printer.example/cb'] });
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: client.clientId,
    redirect_uri: 'https://printer.example/cb',
    scope: 'openid photos:read',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  });
  const browser = jar();
  const authorize = await browser.fetch(`${base}/oauth/oauth2/authorize?${q}`);
  assert.equal(authorize.status, 302);
  const login = authorize.headers.get('location');
  assert.ok(login.startsWith('/connectivly?token='), login);

  // The host's login stand-in: not signed in → /login, sign in, back to the approval URL.
  const host = jar();
  let r = await host.fetch(`${base}${login}`);
  assert.equal(r.status, 302);
  assert.equal(r.headers.get('location'), '/login');
  assert.match(host.cookie, /^host_session=/, 'a session cookie of its own name');
  r = await host.fetch(`${base}/login`);
  assert.equal(r.status, 200);
  assert.match(await r.text(), /<form method="post">/);
  r = await host.fetch(`${base}/login`, { method: 'POST' });
  assert.equal(r.status, 303);
  assert.equal(r.headers.get('location'), login);
  const approved = await host.fetch(`${base}${login}`);
  assert.equal(approved.status, 302);
  assert.match(approved.headers.get('location'), /\/oauth\/consent\/cly_ses_/);

  // Reload (or the back button): the session is spent — the friendly page, a 4xx.
  const again = await host.fetch(`${base}${login}`);
  assert.equal(again.status, 400);
  assert.match(await again.text(), FRIENDLY);
  const unknown = await host.fetch(`${base}/connectivly?token=cly_ses_unknown`);
  assert.equal(unknown.status, 400);
  assert.match(await unknown.text(), FRIENDLY);

  assert.equal((await fetch(`${base}/api/photos`)).status, 401);

  // Anything else still is an error (Express's 500): a closed provider is the host's problem, not the user's.
  const other = await browser.fetch(`${base}/oauth/oauth2/authorize?${q}`);
  const pending = other.headers.get('location');
  await provider.close();
  const logged = [];
  const consoleError = console.error;
  console.error = (...args) => logged.push(args.join(' ')); // Express logs the error it answers 500 for
  const broken = await host.fetch(`${base}${pending}`).finally(() => {
    console.error = consoleError;
  });
  assert.match(logged.join('\n'), /ProviderClosed/);
  assert.equal(broken.status, 500);
  assert.doesNotMatch(await broken.text(), FRIENDLY);

});

test('examples/express-host/README.md: a reload of the approval URL shows the "sign in again" page, not a stack trace', async (t) => {
  const readme = readFileSync(join(here, '..', '..', 'examples', 'express-host', 'README.md'), 'utf8');
  assert.match(readme, FRIENDLY);
  const dir = tempDir(t);
  const port = await freePort();
  const provider = await Provider.open({ issuer: `http://127.0.0.1:${port}/oauth`, loginUrl: '/connectivly', database: `sqlite://${dir}/h.db` });
  t.after(() => provider.close());
  const url = await serve(t, hostExample().createApp(provider, { secret: 'readme-test-secret' }), port);
  const client = await provider.createClient({ name: 'Printer', redirectUris: ['http://localhost:8000/callback'] });
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: client.clientId,
    redirect_uri: 'http://localhost:8000/callback',
    scope: 'openid',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  });
  const browser = new Browser();
  let r = await browser.request(`${url}/oauth/oauth2/authorize?${q}`);
  const approval = r.location;
  assert.match(approval, /\/connectivly\?token=cly_ses_/);
  r = await browser.request(`${url}/login`, { method: 'POST', form: { username: 'ann', password: 'wonderland', next: new URL(approval).pathname + new URL(approval).search } });
  assert.equal(r.status, 303);
  assert.ok([...browser.cookies.values()].some((c) => c.name === 'photohost_session'), 'a session cookie of its own name');
  r = await browser.request(approval);
  assert.equal(r.status, 302);
  for (const link of [approval, `${url}/connectivly?token=cly_ses_unknown`]) {
    r = await browser.request(link);
    assert.equal(r.status, 400, link);
    assert.match(r.text, FRIENDLY);
    assert.match(r.text, /sign in again/);
  }
});
