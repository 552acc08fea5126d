// Estimation and forecasting in the browser: a team of four runs planning poker on two stories
// (hidden cards: no other page receives a card in any WebSocket frame before the reveal, which
// happens by itself once everyone has voted), re-votes and accepts an estimate; the team spreads
// value points, reveals them and orders the backlog; a forecast shows its answer, its histogram
// and its table, the same on two screens.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launchBrowser, setupClass, openTab, addStory, backlogTitles, until, screenshot } from './harness.js';

let server;
let browser;

before(async () => {
  server = await new Server().start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Every WebSocket frame `page` receives from now on, as text. */
function recordFrames(page) {
  const frames = [];
  page.on('websocket', (ws) => ws.on('framereceived', (f) => frames.push(String(f.payload))));
  return frames;
}

const poker = (page) => page.locator('.tab-panel[data-panel="backlog"] .poker');
const status = (page) => poker(page).locator('.poker-status').textContent();

async function vote(page, card) {
  await poker(page).getByRole('button', { name: card === 'coffee' ? 'Coffee break' : `Card ${card}` }).click();
  // The own card shows as chosen, unless this vote completed the round and it was revealed.
  await until(
    async () =>
      (await poker(page).locator('.poker-results').isVisible()) ||
      (await poker(page).getByRole('button', { name: `Card ${card}` }).getAttribute('aria-pressed', { timeout: 500 }).catch(() => null)) === 'true',
    { message: `own card ${card} shown as chosen` },
  );
}

async function selectStory(page, title) {
  await page.locator('.story-row', { hasText: title }).click();
  await until(async () => (await page.locator('.story-form .field-title input').inputValue()) === title, { message: `story ${title} open` });
}

test('a team of four runs planning poker on two stories: hidden cards, auto-reveal, re-vote, accept', async () => {
  const { people } = await setupClass(browser, server, { attendees: ['Ada', 'Bo', 'Cy', 'Di'], teams: ['Team A'] });
  const pages = people.map((p) => p.page);
  const [ada, bo, cy, di] = pages;
  // Di's page reloads onto a socket recorded from the start, so every frame it gets is seen.
  const diFrames = recordFrames(di);
  await di.reload();
  await di.locator('#connection[data-status="connected"]').waitFor();
  await addStory(ada, 'Export the report');
  await addStory(ada, 'Import a CSV backlog');
  for (const p of pages) await until(async () => (await backlogTitles(p)).length === 2, { message: 'both stories everywhere' });
  for (const p of pages) await selectStory(p, 'Export the report');

  await poker(ada).getByRole('button', { name: 'Start a poker round' }).click();
  for (const p of pages) await until(async () => (await status(p)).includes('0 of 4 voted'), { message: 'the round on every page' });
  await vote(ada, '5');
  // A reload mid-round: the round's state comes back, with Ada's own card (and only hers).
  await ada.reload();
  await ada.locator('#connection[data-status="connected"]').waitFor();
  await selectStory(ada, 'Export the report');
  await until(async () => (await poker(ada).getByRole('button', { name: 'Card 5' }).getAttribute('aria-pressed')) === 'true', { message: 'Ada’s card after a reload' });
  assert.match(await status(ada), /1 of 4 voted/);
  await vote(bo, '8');
  await vote(cy, '5');
  await until(async () => (await status(di)).includes('3 of 4 voted') && (await status(di)).includes('waiting for Di'), { message: 'Di sees who voted' });
  // Nothing revealed yet, and no frame Di received carried anyone's card.
  assert.equal(await poker(di).locator('.poker-results').isVisible(), false);
  const leaked = diFrames.filter((f) => /"value":"(5|8)"/.test(f));
  assert.deepEqual(leaked, [], 'Di received no card of another member before the reveal');
  assert.ok(diFrames.some((f) => f.includes('"action":"seal"')), 'Di saw that others voted');
  await screenshot(di, 'poker-voting');

  // Di votes last: the server reveals the round to everyone.
  await vote(di, '13');
  for (const p of pages) await until(async () => (await poker(p).locator('.poker-results li').count()) === 4, { message: 'four cards revealed' });
  const line = await poker(bo).locator('.poker-stats').textContent();
  assert.match(line, /min 5 · max 13 · median 8 · mode 5/);
  assert.equal(await poker(bo).locator('.poker-outcome .badge').textContent(), 'No consensus');
  await screenshot(ada, 'poker-revealed');

  // Re-vote: a second round, everyone agrees; the estimate is accepted into the story.
  await poker(cy).getByRole('button', { name: 'Re-vote' }).click();
  for (const p of pages) await until(async () => (await status(p)).includes('Round 2'), { message: 'round 2 everywhere' });
  for (const p of pages) await vote(p, '8');
  await until(async () => (await poker(ada).locator('.poker-outcome .badge').textContent()) === 'Consensus', { message: 'consensus' });
  assert.equal(await poker(ada).getByLabel('Size to accept').inputValue(), '8', 'the agreed card is suggested');
  await poker(ada).getByRole('button', { name: 'Accept estimate' }).click();
  await until(async () => (await bo.locator('.story-row', { hasText: 'Export the report' }).locator('.chip-estimate').textContent().catch(() => '')) === '8 pts', { message: 'the estimate on Bo’s backlog' });
  await poker(bo).locator('.poker-history-box summary').click();
  assert.match(await poker(bo).locator('.poker-history').textContent(), /Round 1: 13, 5, 8, 5|Round 1: .*13/);

  // Second story, T-shirt sizes.
  for (const p of pages) await selectStory(p, 'Import a CSV backlog');
  await poker(bo).getByLabel('Scale').selectOption('tshirt');
  await poker(bo).getByRole('button', { name: 'Start a poker round' }).click();
  for (const p of pages) await until(async () => (await status(p)).includes('T-shirt'), { message: 'a T-shirt round everywhere' });
  for (const [p, card] of [[ada, 'M'], [bo, 'M'], [cy, 'L'], [di, 'M']]) await vote(p, card);
  // The list of the first story's last round is still in the page (hidden) while this round is
  // open, so its count alone does not say that this round was revealed: wait for the status too.
  await until(
    async () => (await status(ada)).includes('T-shirt · revealed') && (await poker(ada).locator('.poker-results li').count()) === 4,
    { message: 'the T-shirt round revealed' },
  );
  assert.equal(await poker(ada).getByLabel('Size to accept').inputValue(), 'M', 'the median is suggested');
  await poker(ada).getByRole('button', { name: 'Accept estimate' }).click();
  await until(async () => (await di.locator('.story-row', { hasText: 'Import a CSV' }).locator('.chip-estimate').textContent().catch(() => '')) === 'M pts', { message: 'M on Di’s backlog' });
  await screenshot(bo, 'poker-accepted');
  for (const p of people) assert.deepEqual(p.problems, []);
});

test('value scoring and a forecast with its histogram', async () => {
  const { people } = await setupClass(browser, server, { title: 'CSPO day 2', attendees: ['Eve', 'Finn'], teams: ['Team B'] });
  const [eve, finn] = people.map((p) => p.page);
  for (const t of ['Search', 'Login', 'Reports']) await addStory(eve, t);
  await until(async () => (await backlogTitles(finn)).length === 3, { message: 'three stories on Finn' });

  // Value: 100 points each, hidden until both have submitted.
  for (const p of [eve, finn]) await openTab(p, 'Value');
  await eve.getByRole('button', { name: 'Start value scoring' }).click();
  const board = (p) => p.locator('.tab-panel[data-panel="value"]');
  await board(finn).locator('.value-round').waitFor();
  const place = async (p, pts) => {
    for (const [title, n] of Object.entries(pts)) await board(p).getByLabel(title, { exact: true }).fill(String(n));
  };
  await place(eve, { Search: 10, Login: 30, Reports: 60 });
  await until(async () => (await board(eve).locator('.value-left').textContent()) === '0 of 100 points left to place', { message: 'points left' });
  await board(eve).getByRole('button', { name: 'Submit my points' }).click();
  await until(async () => (await board(finn).locator('.value-status').textContent()).includes('1 of 2 submitted'), { message: 'Finn sees Eve submitted' });
  // After a reload Eve's own points come back into her inputs (and nobody else's anywhere).
  await eve.reload();
  await eve.locator('#connection[data-status="connected"]').waitFor();
  await openTab(eve, 'Value');
  await until(async () => (await board(eve).getByLabel('Reports', { exact: true }).inputValue()) === '60', { message: 'Eve’s points after a reload' });
  assert.match(await board(eve).locator('.value-status').textContent(), /your points are in/);
  assert.equal(await board(finn).getByLabel('Reports', { exact: true }).inputValue(), '', 'Finn sees no points of Eve');
  await place(finn, { Search: 70, Login: 50 });
  await until(async () => (await board(finn).locator('.value-left').textContent()).includes('20 points over'), { message: 'overspend shown' });
  await board(finn).getByLabel('Login', { exact: true }).fill('30');
  await board(finn).getByRole('button', { name: 'Submit my points' }).click();
  await until(async () => (await board(eve).locator('.value-total').allTextContents()).join('|') === '80 points|60 points|60 points', { message: 'totals after the reveal' });
  await board(eve).getByRole('button', { name: 'Set each story’s value from the totals' }).click();
  // Everything unestimated: the suggestion waits; estimate them so the value-per-point order shows.
  await openTab(eve, 'Backlog');
  for (const [title, est] of [['Search', '8'], ['Login', '2'], ['Reports', '3']]) {
    await selectStory(eve, title);
    await eve.locator('.story-form').getByLabel('Estimate', { exact: true }).selectOption(est);
  }
  await openTab(eve, 'Value');
  await until(async () => (await board(eve).locator('.value-order li').first().textContent()).startsWith('Login'), { message: 'Login first by value per point' });
  await board(eve).getByRole('button', { name: 'Apply this order to the backlog' }).click();
  await openTab(finn, 'Backlog');
  await until(async () => (await backlogTitles(finn)).join(',') === 'Login,Reports,Search', { message: 'the new order on Finn' });
  await openTab(eve, 'Value');
  await screenshot(eve, 'value-scoring');

  // Forecast: typed throughput; the answer, table and histogram, identical on both screens.
  for (const p of [eve, finn]) await openTab(p, 'Forecast');
  await eve.getByRole('button', { name: 'Start a forecast' }).click();
  const fc = (p) => p.locator('.tab-panel[data-panel="forecast"]');
  await fc(eve).getByLabel('Stories done per past sprint').fill('3, 5, 4, 6');
  await fc(eve).getByLabel('Stories done per past sprint').press('Enter');
  await fc(eve).getByLabel('Stories to finish').fill('20');
  await fc(eve).getByLabel('Stories to finish').press('Enter');
  const answer = (p) => fc(p).locator('.forecast-answer').textContent();
  await until(async () => (await answer(eve).catch(() => '')).includes('the 20 stories are done within'), { message: 'a forecast answer' });
  await until(async () => (await answer(finn).catch(() => '')) === (await answer(eve)), { message: 'the same forecast on Finn' });
  assert.equal(await fc(finn).locator('.forecast-table tbody tr').count(), 4);
  const bars = await fc(finn).locator('svg.forecast-chart rect').count();
  assert.ok(bars >= 2, `histogram bars: ${bars}`);
  assert.match(await fc(finn).locator('svg.forecast-chart').getAttribute('aria-label'), /Sprints to finish 20 stories over 10,000 trials/);
  const axis = await fc(finn).locator('svg.forecast-chart .axis-label').allTextContents();
  assert.deepEqual(axis, ['Sprints until done', 'Trials']);
  // 20 stories at 3-6 per sprint: 4 to 7 sprints, and at 85 % confidence no sooner than the median.
  const sprintsAt = (await fc(finn).locator('.forecast-table tbody tr td:nth-child(2)').allTextContents()).map(Number);
  const rows = await fc(finn).locator('.forecast-table tbody tr').allTextContents();
  assert.equal(sprintsAt.length, 4);
  assert.ok(sprintsAt.every((s) => s >= 4 && s <= 7), JSON.stringify(rows));
  assert.ok(sprintsAt.every((s, i) => i === 0 || s >= sprintsAt[i - 1]), 'monotone in confidence');
  await screenshot(finn, 'forecast');
  for (const p of people) assert.deepEqual(p.problems, []);
});
