// The server is killed and restarted on the same data dir and port while edits are pending:
// one op the server applied but whose ack never arrived, one op sent to a frozen server. After
// the reconnect every edit is there exactly once, for its author and for everyone else.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Server, launchBrowser, newPerson, createWorkshop, joinWith, connected, openTab, addStory, backlogTitles, until, screenshot } from './harness.js';

let first;
let second;
let browser;

before(async () => {
  first = await new Server().start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await first?.kill();
  await second?.stop();
  if (first) rmSync(first.dataDir, { recursive: true, force: true });
});

const count = (list, title) => list.filter((t) => t === title).length;

test('a restart with edits pending: after the reconnect each edit is there exactly once', async () => {
  const fac = await newPerson(browser);
  const f = fac.page;
  // A proxy in the page for the facilitator's WebSocket: it can swallow the ack of one op, as if
  // the connection had died right after the server committed it.
  const swallow = { next: false, opId: null, swallowed: false };
  await f.routeWebSocket(/\/ws$/, (ws) => {
    const upstream = ws.connectToServer();
    ws.onMessage((text) => {
      const msg = JSON.parse(text);
      if (msg.type === 'op' && swallow.next) {
        swallow.next = false;
        swallow.opId = msg.op.id;
      }
      upstream.send(text);
    });
    upstream.onMessage((text) => {
      const msg = JSON.parse(text);
      if (msg.type === 'ack' && msg.op_id === swallow.opId && !swallow.swallowed) {
        swallow.swallowed = true;
        return;
      }
      ws.send(text);
    });
  });

  const links = await createWorkshop(f, first.url, { title: 'Restart drill', name: 'Fran' });
  await f.getByRole('button', { name: 'Open the facilitator console' }).click();
  await connected(f);
  await f.getByRole('button', { name: 'Plenary', exact: true }).click();
  await f.locator('.room[data-room="plenary"]').waitFor();
  await openTab(f, 'Backlog');
  await addStory(f, 'Before the restart');
  await until(async () => (await f.locator('.story-row.is-pending').count()) === 0, { message: 'first story acknowledged' });

  const att = await newPerson(browser);
  const a = att.page;
  await joinWith(a, links.joinLink, 'Ada');
  await openTab(a, 'Backlog');
  await until(async () => count(await backlogTitles(a), 'Before the restart') === 1, { message: 'attendee sees the backlog' });

  // 1. Committed by the server, ack lost: everyone else sees it, the author still has it pending.
  swallow.next = true;
  await addStory(f, 'Applied, ack lost');
  await until(() => swallow.swallowed, { message: 'the server acknowledged (and the proxy swallowed it)' });
  await until(async () => count(await backlogTitles(a), 'Applied, ack lost') === 1, { message: 'attendee sees the committed story' });
  assert.equal(await f.locator('.story-row.is-pending', { hasText: 'Applied, ack lost' }).count(), 1);

  // 2. Sent to a frozen server: never read, still pending.
  first.pause();
  await addStory(f, 'Sent while frozen');
  await f.locator('.story-row.is-pending', { hasText: 'Sent while frozen' }).waitFor();

  // The crash. Both pages say so, and the author's edits stay on screen, marked unsaved.
  await first.kill('SIGKILL');
  for (const page of [f, a]) await page.locator('#connection.conn-reconnecting, #connection.conn-offline').waitFor();
  assert.match(await f.locator('#connection').textContent(), /Reconnecting/);
  assert.match(await f.locator('#connection .conn-pending').textContent(), /2 unsaved/);
  assert.deepEqual(await backlogTitles(f), ['Before the restart', 'Applied, ack lost', 'Sent while frozen']);
  await screenshot(f, 'reconnecting');

  // Restart on the same data dir and the same port.
  second = await new Server({ dataDir: first.dataDir, port: first.port }).start();
  assert.equal(second.port, first.port);
  await connected(f, 20_000);
  await connected(a, 20_000);
  await until(async () => (await f.locator('.story-row.is-pending').count()) === 0, { timeout: 10_000, message: 'pending edits acknowledged' });
  const want = ['Before the restart', 'Applied, ack lost', 'Sent while frozen'];
  await until(async () => JSON.stringify(await backlogTitles(f)) === JSON.stringify(want), { message: 'author sees each story once' });
  await until(async () => JSON.stringify(await backlogTitles(a)) === JSON.stringify(want), { message: 'attendee sees each story once' });
  assert.equal(await f.locator('#connection .conn-pending').isVisible(), false);

  // A fresh snapshot after a reload, and the server's own count, agree.
  await a.reload();
  await connected(a);
  await openTab(a, 'Backlog');
  await until(async () => JSON.stringify(await backlogTitles(a)) === JSON.stringify(want), { message: 'after reload' });
  const session = JSON.parse(await f.evaluate(() => sessionStorage.getItem('plenary.session')));
  const summary = await (await fetch(`${second.url}/api/workshops/${session.workshopId}`, { headers: { Authorization: `Bearer ${session.token}` } })).json();
  assert.equal(summary.rooms.find((r) => r.id === 'plenary').progress.stories, 3);

  const reconnectNoise = (p) => /WebSocket connection .* failed/.test(p);
  assert.deepEqual(att.problems.filter((p) => !reconnectNoise(p)), []);
  // The facilitator's page logs the failed reconnect attempts while the server is down.
  assert.deepEqual(fac.problems.filter((p) => !reconnectNoise(p)), []);
});
