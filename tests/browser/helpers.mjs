// Fixtures for the browser tests: free ports, the example apps as real processes (each in its own
// process group, killed at the end, also on failure), Debian's Chromium through playwright-core, axe-core.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..');
export const ARTIFACTS = path.join(HERE, 'artifacts');
export const SCREENSHOTS = path.join(ROOT, 'docs', 'screenshots');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SERVER_BIN = process.env.CONNECTIVLY_BIN || path.join(ROOT, 'target', 'debug', 'connectivly');
export const PYTHON = path.join(ROOT, '.venv', 'bin', 'python');

const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const DESKTOP = { width: 900, height: 720 };
export const PHONE = { width: 375, height: 740 };

export function freePort(preferred = 0) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', (e) => (preferred ? freePort().then(resolve, reject) : reject(e)));
    srv.listen(preferred, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix = 'connectivly-browser-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// Every process group started here, so an exit for any reason (a failed assertion, a signal from the
// test runner) still ends them.
const groups = new Set();
const running = new Map(); // pid → stop()
function killAll(signal) {
  for (const pid of groups) {
    try {
      process.kill(-pid, signal);
    } catch {
      groups.delete(pid); // already gone
    }
  }
}
process.on('exit', () => killAll('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    killAll('SIGKILL');
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

// Settings of the examples that a developer's shell may carry: each test sets its own.
const EXAMPLE_SETTINGS = ['PORT', 'HOST', 'ISSUER', 'CLIENT_ID', 'CLIENT_SECRET', 'API_URL', 'BASE_URL', 'PROVIDER_NAME', 'SCOPE'];
function inherited() {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('CONNECTIVLY_') && !EXAMPLE_SETTINGS.includes(k)),
  );
}

/**
 * Runs a bash script in its own process group (so its children — a backgrounded host, `npm start`'s
 * node — go with it); its output goes to artifacts/<name>.log.
 */
export function startScript(name, script, { env = {}, cwd = ROOT } = {}) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const logFile = path.join(ARTIFACTS, `${name}.log`);
  const log = fs.openSync(logFile, 'w');
  const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
    cwd,
    env: { ...inherited(), ...env },
    stdio: ['ignore', log, log],
    detached: true,
  });
  fs.closeSync(log);
  groups.add(child.pid);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const proc = {
    name,
    child,
    exited,
    log: () => fs.readFileSync(logFile, 'utf8'),
    async stop() {
      if (!groups.has(child.pid)) return;
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        groups.delete(child.pid);
        return;
      }
      // A process group has no single exit to wait for: poll until none of it is left.
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline) {
        try {
          process.kill(-child.pid, 0);
        } catch {
          groups.delete(child.pid);
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      groups.delete(child.pid);
    },
  };
  running.set(child.pid, async () => {
    await proc.stop();
    running.delete(child.pid);
  });
  return proc;
}

/** Stops every process group still running (a describe block's cleanup, whatever its setup got to). */
export async function stopAll() {
  for (const stop of [...running.values()]) await stop();
}

/** Runs a command to completion and returns its stdout. */
export function run(name, script, options = {}) {
  const p = startScript(name, script, options);
  return p.exited.then(({ code, signal }) => {
    groups.delete(p.child.pid);
    const out = p.log();
    assert.equal(code, 0, `${name} failed (${signal ?? code}):\n${out}`);
    return out;
  });
}

/** Resolves once `url` answers (any status), failing early if the process behind it exits. */
export async function waitForHttp(url, proc, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let exited = null;
  proc?.exited.then((e) => (exited = e));
  for (;;) {
    try {
      await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(2000) });
      return;
    } catch {
      if (exited) throw new Error(`${proc.name} exited (${exited.signal ?? exited.code}) before ${url} answered:\n${proc.log()}`);
      if (Date.now() > deadline) throw new Error(`${url} did not answer in ${timeoutMs / 1000} s:\n${proc?.log() ?? ''}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function launchBrowser() {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (tests/run-all does)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** A fresh browser profile (its own cookies) that records every request its pages make. */
export async function newContext(browser) {
  const context = await browser.newContext({ viewport: DESKTOP, deviceScaleFactor: 1, colorScheme: 'light', locale: 'en-US' });
  context.requests = [];
  context.on('request', (r) => context.requests.push(r.url()));
  return context;
}

/** axe-core in the page, every rule axe runs by default (WCAG 2.x A/AA and best practices). */
export async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.evaluate(AXE_SOURCE); // evaluated through the DevTools protocol: the page's CSP still holds
  }
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary}`),
  }));
}

/**
 * Zero axe violations at phone and desktop widths, and in dark mode (the provider's pages follow the
 * system's colour scheme); the viewport and scheme are restored afterwards.
 */
export async function assertAccessible(page, what) {
  const original = page.viewportSize();
  for (const [size, colorScheme] of [
    [PHONE, 'light'],
    [DESKTOP, 'light'],
    [DESKTOP, 'dark'],
  ]) {
    await page.setViewportSize(size);
    await page.emulateMedia({ colorScheme });
    const violations = await axeViolations(page);
    const where = `${what} at ${size.width}px, ${colorScheme}`;
    assert.deepEqual(violations, [], `${where}: ${JSON.stringify(violations, null, 2)}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `${where}: scrolls sideways (${overflow}px)`);
  }
  await page.setViewportSize(original);
  await page.emulateMedia({ colorScheme: 'light' });
}

/** Saves a screenshot under artifacts/<shape>/, and under docs/screenshots/ when asked to. */
export async function screenshot(page, shape, name, { readme = false } = {}) {
  const dir = path.join(ARTIFACTS, shape);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file });
  if (readme && process.env.UPDATE_SCREENSHOTS === '1') {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    fs.copyFileSync(file, path.join(SCREENSHOTS, `${name}.png`));
  }
}
