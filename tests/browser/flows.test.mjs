// A real browser (Debian's Chromium) through the examples, for every shape of the product: Photo Printer
// (examples/client-app) signs its users in with Photo Host — the provider embedded in Flask, embedded in
// Express, or the standalone server with a Flask host using RemoteProvider. The Flask shape runs the
// README's "See it in a browser" commands as written (only the ports and the database file differ).

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  ARTIFACTS,
  PHONE,
  DESKTOP,
  PYTHON,
  ROOT,
  SERVER_BIN,
  assertAccessible,
  freePort,
  launchBrowser,
  newContext,
  run,
  screenshot,
  startScript,
  stopAll,
  tempDir,
  waitForHttp,
} from './helpers.mjs';

const q = (s) => `'${String(s).replaceAll("'", `'\\''`)}'`; // a bash word

/** The README's shell block under "See it in a browser". */
export function readmeCommands() {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## See it in a browser');
  assert.ok(start >= 0, 'README has a "See it in a browser" section');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(start));
  assert.ok(block, 'a sh block follows the heading');
  return block[1];
}

const LOGO =
  'data:image/svg+xml;base64,' +
  Buffer.from(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="15" fill="#f2c94c"/></svg>',
  ).toString('base64');

/** Each shape starts its processes and says where the client app and the provider are. */
const SHAPES = {
  // The README's commands: register the client, start the Flask host, start the client app.
  async flask({ dir, hostPort, clientPort }) {
    const original = readmeCommands();
    assert.match(original, /PORT=5000 [^\n]*\n[^]*PORT=8000 /, 'the README commands name their ports');
    const script = original.replace(/\b5000\b/g, String(hostPort)).replace(/\b8000\b/g, String(clientPort));
    const proc = startScript('flask', script, { env: { CONNECTIVLY_DATABASE_URL: `sqlite://${dir}/photohost.db` } });
    return { procs: [proc], issuer: `http://localhost:${hostPort}/oauth`, allow: ['rgb(15, 123, 108)', 'rgb(255, 255, 255)'] };
  },

  async express({ dir, hostPort, clientPort }) {
    const env = { CONNECTIVLY_DATABASE_URL: `sqlite://${dir}/photohost.db` };
    const creds = await run(
      'express-create-client',
      `cd examples/express-host && node app.js create-client 'Photo Printer' http://localhost:${clientPort}/callback`,
      { env },
    );
    const proc = startScript(
      'express',
      `export ${creds.trim().split('\n').map(q).join(' ')}
cd examples/express-host && PORT=${hostPort} node app.js &
cd examples/client-app && PORT=${clientPort} ISSUER=http://localhost:${hostPort}/oauth \\
  API_URL=http://localhost:${hostPort}/api/photos PROVIDER_NAME='Photo Host' node app.js`,
      { env },
    );
    return { procs: [proc], issuer: `http://localhost:${hostPort}/oauth`, allow: ['rgb(15, 123, 108)', 'rgb(255, 255, 255)'] };
  },

  // The standalone server (its own branding: a light accent, so the Allow button needs dark text) and the
  // Flask host talking to it through RemoteProvider.
  async server({ dir, hostPort, clientPort }) {
    const serverPort = await freePort();
    const issuer = `http://localhost:${serverPort}`;
    const remote = { CONNECTIVLY_URL: issuer, CONNECTIVLY_API_KEY: `cly_ak_${crypto.randomBytes(24).toString('base64url')}` };
    const server = startScript('server', `exec ${q(SERVER_BIN)}`, {
      env: {
        CONNECTIVLY_REDIRECT_URL: `http://localhost:${hostPort}/connectivly`,
        CONNECTIVLY_ISSUER: issuer,
        CONNECTIVLY_PORT: String(serverPort),
        CONNECTIVLY_BIND: '127.0.0.1',
        CONNECTIVLY_DATABASE_URL: `sqlite://${dir}/server.db`,
        CONNECTIVLY_API_KEY: remote.CONNECTIVLY_API_KEY,
        CONNECTIVLY_SCOPES: 'photos:read=See your photos',
        CONNECTIVLY_PROVIDER_NAME: 'Photo Host',
        CONNECTIVLY_ACCENT_COLOR: '#f2c94c',
        CONNECTIVLY_PROVIDER_LOGO_URI: LOGO,
        CONNECTIVLY_LOG: 'warn',
      },
    });
    await waitForHttp(`${issuer}/healthz`, server);
    const creds = await run(
      'server-create-client',
      `${q(PYTHON)} examples/flask-host/app.py create-client 'Photo Printer' http://localhost:${clientPort}/callback`,
      { env: remote },
    );
    const proc = startScript(
      'server-hosts',
      `export ${creds.trim().split('\n').map(q).join(' ')}
PORT=${hostPort} ${q(PYTHON)} examples/flask-host/app.py &
cd examples/client-app && PORT=${clientPort} ISSUER=${issuer} \\
  API_URL=http://localhost:${hostPort}/api/photos PROVIDER_NAME='Photo Host' node app.js`,
      { env: remote },
    );
    return { procs: [server, proc], issuer, allow: ['rgb(242, 201, 76)', 'rgb(0, 0, 0)'] };
  },
};

let browser;
before(async () => {
  fs.rmSync(ARTIFACTS, { recursive: true, force: true });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

for (const [shape, start] of Object.entries(SHAPES)) {
  describe(`${shape}: Photo Printer signs in with Photo Host`, () => {
    let env;
    before(async () => {
      const dir = tempDir();
      // The README's screenshots show the README's ports (when they are free); tests take any free port.
      const readmeShots = shape === 'flask' && process.env.UPDATE_SCREENSHOTS === '1';
      const hostPort = await freePort(readmeShots ? 5000 : 0);
      const clientPort = await freePort(readmeShots ? 8000 : 0);
      env = { dir, hostPort, clientPort, client: `http://localhost:${clientPort}`, procs: [] };
      Object.assign(env, await start(env));
      await waitForHttp(`${env.client}/`, env.procs.at(-1));
      await waitForHttp(`http://localhost:${hostPort}/login`, env.procs.at(-1));
    });
    after(async () => {
      await stopAll();
      if (env?.dir) fs.rmSync(env.dir, { recursive: true, force: true });
    });

    /** From the client's start page to the consent page, signing in at the host on the way. */
    async function toConsent(page, username, password, { shots = false } = {}) {
      await page.goto(`${env.client}/`);
      if (shots) await screenshot(page, shape, '1-client', { readme: shape === 'flask' });
      await page.getByRole('link', { name: 'Sign in with Photo Host' }).click();
      await page.waitForURL(/\/login\?next=/);
      if (shots) {
        await assertAccessible(page, 'the host login page');
        await screenshot(page, shape, '2-login', { readme: shape === 'flask' });
      }
      await page.getByLabel('Username').fill(username);
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/consent\/cly_ses_/);
    }

    test('Allow, with the keyboard only; then a remembered grant skips the consent page', async () => {
      const context = await newContext(browser);
      try {
        const page = await context.newPage();
        await toConsent(page, 'ann', 'wonderland', { shots: true });

        assert.equal(await page.locator('script').count(), 0, 'no scripts');
        assert.equal(
          await page.getByRole('heading', { level: 1 }).textContent(),
          'Photo Printer wants to access your Photo Host account',
        );
        const scopes = await page.getByRole('list', { name: /Signed in as ann\. Photo Printer will be able to/ }).textContent();
        for (const s of ['See your photos', 'See your email address', 'photos:read', 'email']) assert.ok(scopes.includes(s), scopes);
        assert.match(await page.locator('.brand').textContent(), /^Photo Host$/);
        assert.match(await page.locator('.brand img').getAttribute('src'), /^data:image\/svg\+xml;base64,/);
        const allow = await page
          .getByRole('button', { name: 'Allow' })
          .evaluate((b) => [getComputedStyle(b).backgroundColor, getComputedStyle(b).color]);
        assert.deepEqual(allow, env.allow, 'the accent colour, with readable text on it');
        const external = context.requests.filter((u) => !u.startsWith('http://localhost:') && !u.startsWith('data:'));
        assert.deepEqual(external, [], 'no external assets');

        await assertAccessible(page, 'the consent page');
        await screenshot(page, shape, '3-consent', { readme: shape === 'flask' });
        await page.setViewportSize(PHONE);
        await screenshot(page, shape, '3-consent-phone', { readme: shape === 'flask' });
        const buttons = await page.getByRole('button').evaluateAll((els) =>
          els.map((b) => {
            const r = b.getBoundingClientRect();
            return { text: b.textContent, right: r.right, height: r.height };
          }),
        );
        for (const b of buttons) {
          assert.ok(b.right <= PHONE.width && b.height >= 44, `${b.text} fits and is a 44px target at 375px: ${JSON.stringify(b)}`);
        }
        await page.setViewportSize(DESKTOP);

        // Keyboard: Tab reaches the checkbox, Deny, Allow — in that order, each visibly focused.
        const focused = async () =>
          page.evaluate(() => {
            const el = document.activeElement;
            return { label: el.labels?.[0]?.textContent ?? el.textContent, outline: getComputedStyle(el).outlineStyle };
          });
        const order = [];
        for (let i = 0; i < 3; i++) {
          await page.keyboard.press('Tab');
          const f = await focused();
          assert.notEqual(f.outline, 'none', `${f.label} shows focus`);
          order.push(f.label);
          if (i === 0) await page.keyboard.press('Space');
        }
        assert.deepEqual(order, ['Remember this decision', 'Deny', 'Allow']);
        assert.ok(await page.getByLabel('Remember this decision').isChecked());
        await page.keyboard.press('Enter');

        await page.waitForURL(`${env.client}/`);
        assert.equal(await page.locator('#user-name').textContent(), 'Ann Example');
        assert.equal(await page.locator('#user-email').textContent(), 'ann@example.com');
        assert.equal(await page.locator('#api-status').textContent(), '200');
        const api = JSON.parse(await page.locator('#api-result').textContent());
        assert.deepEqual(api, { owner: 'ann', photos: ['/photos/ann/1.jpg', '/photos/ann/2.jpg'] });
        await assertAccessible(page, "the client app's signed-in page");
        await screenshot(page, shape, '4-signed-in', { readme: shape === 'flask' });

        // Signed out of the client only: signing in again passes the host (still signed in) and, with
        // the remembered grant, no consent page.
        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.waitForURL(`${env.client}/`);
        const visited = [];
        page.on('framenavigated', (f) => visited.push(f.url()));
        await page.getByRole('link', { name: 'Sign in with Photo Host' }).click();
        await page.waitForSelector('#user-name');
        assert.equal(await page.locator('#user-name').textContent(), 'Ann Example');
        assert.deepEqual(
          visited.filter((u) => u.includes('/consent/') || u.includes('/login')),
          [],
          `no consent page the second time: ${visited.join(' → ')}`,
        );
      } finally {
        await context.close();
      }
    });

    test('Deny: the client is told access_denied', async () => {
      const context = await newContext(browser);
      try {
        const page = await context.newPage();
        await toConsent(page, 'bob', 'canwefixit');
        await page.getByRole('button', { name: 'Deny' }).click();
        await page.waitForURL(/\/callback\?/);
        assert.equal(await page.locator('#error').textContent(), 'access_denied');
        assert.equal(await page.locator('#user-name').count(), 0);
        await assertAccessible(page, "the client app's error page");
        await screenshot(page, shape, '5-denied');
      } finally {
        await context.close();
      }
    });

    test('the consent form only works in the browser that started the sign-in, with its CSRF token', async () => {
      const owner = await newContext(browser);
      const other = await newContext(browser);
      try {
        const page = await owner.newPage();
        await toConsent(page, 'bob', 'canwefixit');
        const consentUrl = page.url();
        const form = page.locator('form[method=post]');
        const action = await form.getAttribute('action');
        const csrf = await page.locator('input[name=csrf]').inputValue();

        // Another browser that knows the session (but not the ticket only the host's answer carried, and
        // without the binding cookie): neither the page nor a copy of its form, token included. (The full URL,
        // ticket included, in another browser ends the sign-in: tests/e2e/test_review_findings.py.)
        assert.match(consentUrl, /\?ticket=cly_ct_/);
        const intruder = await other.newPage();
        const seen = await intruder.goto(consentUrl.split('?')[0]);
        assert.equal(seen.status(), 403);
        assert.match(await intruder.locator('h1').textContent(), /belongs to another browser/);
        await assertAccessible(intruder, 'the consent error page');
        await screenshot(intruder, shape, '6-another-browser');
        const attr = (s) => s.replaceAll('&', '&amp;').replaceAll('"', '&quot;');
        await intruder.setContent(
          `<form method="post" action="${attr(action)}"><input type="hidden" name="csrf" value="${attr(csrf)}">` +
            `<button name="decision" value="allow">Allow</button></form>`,
        );
        const [posted] = await Promise.all([
          intruder.waitForResponse((r) => r.url() === action && r.request().method() === 'POST'),
          intruder.getByRole('button', { name: 'Allow' }).click(),
        ]);
        assert.equal(posted.status(), 403);

        // The right browser with a wrong token: refused too.
        await page.locator('input[name=csrf]').evaluate((el) => {
          el.value = 'forged';
        });
        const [forged] = await Promise.all([
          page.waitForResponse((r) => r.url() === action && r.request().method() === 'POST'),
          page.getByRole('button', { name: 'Allow' }).click(),
        ]);
        assert.equal(forged.status(), 403);
        assert.match(await page.locator('main').textContent(), /stale|not sent by this page/);

        // None of that used the request up: the real page still completes.
        await page.goto(consentUrl);
        await page.getByRole('button', { name: 'Allow' }).click();
        await page.waitForURL(`${env.client}/`);
        assert.equal(await page.locator('#user-name').textContent(), 'Bob Builder');
        assert.equal(await page.locator('#user-email').textContent(), 'bob@example.com');

        // The provider's own error page (an unknown client): accessible as well.
        const bad = await intruder.goto(
          `${env.issuer}/oauth2/authorize?response_type=code&client_id=cly_ci_unknown&redirect_uri=${encodeURIComponent(`${env.client}/callback`)}`,
        );
        assert.equal(bad.status(), 400);
        await assertAccessible(intruder, "the provider's error page");
      } finally {
        await owner.close();
        await other.close();
      }
    });
  });
}
