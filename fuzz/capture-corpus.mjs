// Builds the decode_client seed corpus from real frames: runs a short class in Chromium against
// the real server (two attendees and a facilitator: stories, criteria, notes typed live, a
// reorder, a poker round, value points, a forecast, feedback on stage) and writes every frame
// the pages send, one file each, into fuzz/seeds/decode_client/.
// Run once after a protocol change: cargo build -p plenary-server --bin plenary &&
//   PLENARY_BIN=$PWD/target/debug/plenary node fuzz/capture-corpus.mjs
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, launchBrowser, setupClass, openTab, addStory, until } from '../tests/e2e/harness.js';

const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'seeds', 'decode_client');
mkdirSync(out, { recursive: true });
const frames = new Set();
const record = (page) => page.on('websocket', (ws) => ws.on('framesent', (f) => frames.add(String(f.payload))));

const server = await new Server().start();
const browser = await launchBrowser();
try {
  const { fac, people } = await setupClass(browser, server, { attendees: ['Ada', 'Bo'], teams: ['Team A'] });
  const [ada, bo] = people.map((p) => p.page);
  for (const page of [fac.page, ada, bo]) {
    record(page);
    await page.reload();
    await page.locator('#connection[data-status="connected"]').waitFor();
  }
  await addStory(ada, 'Export the report');
  await addStory(bo, 'Import a CSV backlog');
  await ada.getByLabel('As a').fill('trainer');
  await ada.getByLabel('I want').fill('to export the report');
  await ada.getByRole('button', { name: 'Add acceptance criterion' }).click();
  await ada.locator('.criterion').first().getByLabel('Given').fill('a finished class');
  await openTab(bo, 'Vision Board');
  await bo.getByLabel('New note in Vision').fill('We help trainers run live classes');
  await bo.getByLabel('New note in Vision').press('Enter');
  const note = bo.locator('.vision-vision .note textarea').first();
  await note.click();
  await bo.keyboard.type(' online, together', { delay: 30 });
  await openTab(bo, 'Backlog');
  const row = ada.locator('.story-row', { hasText: 'Import a CSV backlog' });
  await row.focus();
  await ada.keyboard.press('Alt+ArrowUp');
  await ada.locator('.story-row', { hasText: 'Export the report' }).click();
  await bo.locator('.story-row', { hasText: 'Export the report' }).click();
  await ada.getByRole('button', { name: 'Start a poker round' }).click();
  await ada.getByRole('button', { name: 'Card 5' }).click();
  await bo.getByRole('button', { name: 'Card 8' }).click();
  await until(async () => (await ada.locator('.poker-results li').count()) === 2, { message: 'poker revealed' });
  await ada.getByRole('button', { name: 'Accept estimate' }).click();
  await openTab(ada, 'Value');
  await ada.getByRole('button', { name: 'Start value scoring' }).click();
  await ada.locator('.tab-panel[data-panel="value"]').getByLabel('Export the report', { exact: true }).fill('60');
  await ada.getByRole('button', { name: 'Submit my points' }).click();
  await openTab(bo, 'Forecast');
  await bo.getByRole('button', { name: 'Start a forecast' }).click();
  await bo.getByLabel('Stories done per past sprint').fill('3, 5, 4');
  await bo.getByLabel('Stories done per past sprint').press('Enter');
  await ada.getByRole('button', { name: 'Undo' }).click();
  await ada.getByLabel('Help request note').fill('How do we split this story?');
  await ada.getByRole('button', { name: 'Raise hand' }).click();
  await new Promise((r) => setTimeout(r, 1500));
} finally {
  await browser.close();
  await server.stop();
}
for (const frame of frames) {
  const name = createHash('sha1').update(frame).digest('hex');
  writeFileSync(path.join(out, name), frame);
}
console.log(`${frames.size} frames written to ${out}`);
