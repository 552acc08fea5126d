// Shared helpers for the browser tests: the real server binary, Debian's Chromium, screenshots.
// Not a test file itself (node --test picks up *.test.js only).

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCREENSHOTS = path.join(REPO_ROOT, 'test-output');
const BINARY = path.resolve(REPO_ROOT, process.env.PLENARY_BIN ?? 'target/debug/plenary');
const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
/** How long the server may take to print its listening line. */
const START_TIMEOUT_MS = 15_000;

/**
 * The real `plenary` binary on 127.0.0.1. `port` 0 picks a free port; the address is read from
 * the `plenary listening` log line. `dataDir` defaults to a fresh temporary directory.
 */
export class Server {
  constructor({ dataDir, port = 0, env = {} } = {}) {
    this.ownsDataDir = !dataDir;
    this.dataDir = dataDir ?? mkdtempSync(path.join(tmpdir(), 'plenary-e2e-'));
    this.port = port;
    this.env = env;
    this.proc = null;
    this.log = [];
  }

  async start() {
    if (!existsSync(BINARY)) {
      throw new Error(`server binary not found at ${BINARY}: build it (cargo build -p plenary-server) or set PLENARY_BIN`);
    }
    const proc = spawn(BINARY, ['--bind', `127.0.0.1:${this.port}`, '--data-dir', this.dataDir], {
      env: { ...process.env, NO_COLOR: '1', RUST_LOG: 'info', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    this.exited = exited;
    const listening = new Promise((resolve, reject) => {
      let buffer = '';
      const onData = (chunk) => {
        buffer += chunk.toString();
        let nl;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          this.log.push(line);
          const m = /addr=127\.0\.0\.1:(\d+)/.exec(line);
          if (line.includes('plenary listening') && m) resolve(Number(m[1]));
        }
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', (c) => this.log.push(...c.toString().split('\n').filter(Boolean)));
      exited.then(({ code, signal }) => reject(new Error(`server exited (${code ?? signal}) before listening:\n${this.log.join('\n')}`)));
      // unref: a pending start timeout must not keep the test process alive after the start.
      setTimeout(() => reject(new Error(`server did not listen within ${START_TIMEOUT_MS} ms:\n${this.log.join('\n')}`)), START_TIMEOUT_MS).unref();
    });
    this.port = await listening;
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  /** Kills the process (SIGKILL by default: a crash, no goodbye to clients) and waits for it. */
  async kill(signal = 'SIGKILL') {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill(signal);
    await this.exited;
  }

  /** Freezes or resumes the process (SIGSTOP / SIGCONT): sockets stay open, nothing is answered. */
  pause() {
    this.proc.kill('SIGSTOP');
  }

  resume() {
    this.proc.kill('SIGCONT');
  }

  async stop() {
    if (this.proc) {
      this.resume();
      await this.kill('SIGTERM');
    }
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/**
 * A page in its own browser context (its own storage, like a separate person), with a list of
 * the page's errors and dialogs for the assertions.
 */
export async function newPerson(browser, { width = 1280, height = 800 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  const problems = [];
  const dialogs = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('dialog', async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  page.setDefaultTimeout(10_000);
  return { context, page, problems, dialogs };
}

/** Creates a workshop through the landing page; returns the invite links shown. */
export async function createWorkshop(page, url, { title, name }) {
  await page.goto(url);
  await page.getByLabel('Workshop title').fill(title);
  await page.locator('#create-h').locator('..').getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Create workshop' }).click();
  await page.getByRole('heading', { name: 'Your workshop is ready' }).waitFor();
  const joinLink = await page.getByLabel('Attendee link').inputValue();
  const observerLink = await page.getByLabel('Observer link').inputValue();
  return { joinLink, observerLink };
}

/** Joins with an invite link and a display name. */
export async function joinWith(page, link, name) {
  // Invite links carry the code in the fragment, which no request sends to a server.
  if (!new URL(link).hash.startsWith('#join=')) throw new Error(`an invite link without #join=: ${link}`);
  await page.goto(link);
  await page.locator('#join-h').locator('..').getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Join workshop' }).click();
  await connected(page);
  // Once joined, the code leaves the address bar: a reload reconnects instead of joining again.
  if (page.url().includes('join=')) throw new Error(`the join code is still in the address bar: ${page.url()}`);
}

/** Waits until the connection indicator says connected. */
export async function connected(page, timeout = 15_000) {
  await page.locator('#connection[data-status="connected"]').waitFor({ timeout });
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // A full-page capture of a scrolled page would paint the sticky top bar mid-page.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Polls `fn` until it returns a truthy value. */
export async function until(fn, { timeout = 10_000, interval = 100, message = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out waiting for ${message} (last value: ${JSON.stringify(last)})`);
}

/** The visible story titles of the backlog, in order. */
export async function backlogTitles(page) {
  return page.locator('.tab-panel[data-panel="backlog"] .story-list .story-title').allTextContents();
}

/**
 * A class in session: a facilitator (console open), attendees joined by link, breakout rooms
 * created, everyone assigned automatically and the breakouts open. Returns the people.
 */
export async function setupClass(browser, server, { title = 'CSPO day 1', attendees = ['Ada', 'Bo'], teams = ['Team A'], open = true } = {}) {
  const fac = await newPerson(browser);
  const links = await createWorkshop(fac.page, server.url, { title, name: 'Fran' });
  await fac.page.getByRole('button', { name: 'Open the facilitator console' }).click();
  await connected(fac.page);
  const people = [];
  for (const name of attendees) {
    const p = await newPerson(browser);
    await joinWith(p.page, links.joinLink, name);
    people.push(p);
  }
  await fac.page.getByLabel('New breakout rooms (comma-separated names)').fill(teams.join(', '));
  await fac.page.getByRole('button', { name: 'Create breakouts' }).click();
  await fac.page.getByRole('button', { name: 'Assign everyone automatically' }).click();
  await until(async () => (await fac.page.locator('.team-col').first().locator('.person').count()) === 0 && (await fac.page.locator('.person').count()) === attendees.length, { message: 'everyone assigned' });
  if (open) {
    await fac.page.getByRole('button', { name: 'Open breakouts' }).click();
    for (const p of people) await p.page.locator('.room[data-room^="room-"]').waitFor();
  }
  return { fac, people, links };
}

/** Opens a tab of the room view (Vision Board, Backlog, Experiments, Feedback). */
export async function openTab(page, name) {
  await page.getByRole('tab', { name: new RegExp(`^${name}`) }).click();
}

/** Adds a story through the backlog's form. */
export async function addStory(page, title) {
  await page.getByLabel('New story title').fill(title);
  await page.getByRole('button', { name: 'Add story' }).click();
}
