// The README's Express snippet, run as written (only the host's own `requireLogin` is supplied): a snippet
// that drifted from the package is a bug.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { tempDir } from './helpers.mjs';

const here = dirname(fileURLToPath(import.meta.url));

test('the README Express snippet serves discovery, approves and guards its API', async (t) => {
  const readme = readFileSync(join(here, '..', '..', 'README.md'), 'utf8');
  const start = readme.indexOf('## Node: the provider inside your Express app');
  const block = /```js\n([\s\S]*?)```/.exec(readme.slice(start));
  assert.ok(block, 'a js block follows the Node heading');
  const dir = tempDir(t);
  const snippet = block[1].replace("'sqlite://connectivly.db'", JSON.stringify(`sqlite://${dir}/readme.db`));
  assert.notEqual(snippet, block[1], 'the snippet names its database');
  // The file lives inside the package so that `import ... from 'connectivly'` resolves to it.
  const file = join(here, `.readme-snippet-${process.pid}.mjs`);
  t.after(() => rmSync(file, { force: true }));
  writeFileSync(
    file,
    `const requireLogin = (req, res, next) => { req.user = { email: 'ann@example.com', name: 'Ann' }; next(); };\n` +
      snippet +
      `\nexport { app, provider };\n`,
  );
  const { app, provider } = await import(file);
  t.after(() => provider.close());
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  t.after(() => server.close());
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
  const authorize = await fetch(`${base}/oauth/oauth2/authorize?${q}`, { redirect: 'manual' });
  assert.equal(authorize.status, 302);
  const login = authorize.headers.get('location');
  assert.ok(login.startsWith('/connectivly?token='), login);
  const approved = await fetch(`${base}${login}`, { redirect: 'manual' });
  assert.equal(approved.status, 302);
  assert.match(approved.headers.get('location'), /\/oauth\/consent\/cly_ses_/);
  assert.equal((await fetch(`${base}/api/photos`)).status, 401);
});
