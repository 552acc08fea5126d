// The facilitator flow: breakouts, an exercise broadcast with a synchronized countdown and the
// end warning, the live overview and help queue, moving people by drag, and the review stage
// where an observer leaves feedback on a team's read-only board.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launchBrowser, setupClass, newPerson, joinWith, openTab, until, screenshot } from './harness.js';

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

const countdown = (page) => page.evaluate(() => {
  const el = document.querySelector('#countdown');
  return { ms: Number(el?.dataset.remainingMs), text: el?.querySelector('.countdown-time')?.textContent, phase: el?.dataset.phase };
});

test('breakouts, a broadcast exercise with one countdown, help, and the review stage', async () => {
  const { fac, people, links } = await setupClass(browser, server, { attendees: ['Ada', 'Bo'], teams: ['Team A', 'Team B'] });
  const f = fac.page;
  const [ada, bo] = people.map((p) => p.page);
  // Balanced: one attendee per team.
  const adaRoom = await ada.locator('.room').getAttribute('data-room');
  const boRoom = await bo.locator('.room').getAttribute('data-room');
  assert.notEqual(adaRoom, boRoom);

  // Broadcast a 10-minute vision board exercise to every breakout room.
  await f.getByLabel('Title', { exact: true }).fill('Product Vision Board');
  await f.getByLabel('Timebox (minutes)').fill('10');
  await f.getByLabel('Template').selectOption('vision_board');
  await f.getByRole('button', { name: 'Broadcast exercise' }).click();

  for (const page of [ada, bo]) {
    await page.locator('.banner-title', { hasText: 'Product Vision Board' }).waitFor();
    // The template opened the vision board, with its five seeded sections.
    await page.locator('.tab-panel[data-panel="vision"]:not([hidden])').waitFor();
    await until(async () => (await page.locator('.tab[data-tab="vision"]').getAttribute('aria-selected')) === 'true', { message: 'vision tab selected' });
  }
  // Both attendees see the same countdown, within a second.
  await ada.waitForTimeout(1500); // let the early pings refine the clock offset
  const [a, b] = await Promise.all([countdown(ada), countdown(bo)]);
  assert.ok(a.ms > 590_000 && a.ms <= 600_000, `Ada's countdown ${a.ms}`);
  assert.ok(Math.abs(a.ms - b.ms) < 1000, `countdowns differ by ${Math.abs(a.ms - b.ms)} ms (${a.text} vs ${b.text})`);
  assert.match(a.text, /^(10:00|9:5\d)$/);
  assert.equal(a.phase, 'running');

  // Ada fills in the board and raises her hand.
  await ada.getByLabel('New note in Needs').fill('Trainers lack one live control room');
  await ada.getByRole('button', { name: 'Add note' }).nth(2).click();
  await ada.getByLabel('New note in Vision').fill('Hands-on classes without tool juggling');
  await ada.getByLabel('New note in Vision').press('Enter');
  await ada.getByLabel('Help request note').fill('Is a feature a need?');
  await ada.getByRole('button', { name: 'Raise hand' }).click();
  await ada.getByText('Your hand is raised').waitFor();

  // The console shows the help request and the team's progress.
  const help = f.locator('.help-item', { hasText: 'Ada' });
  await help.waitFor();
  assert.match(await help.textContent(), /Is a feature a need\?/);
  const adaCard = f.locator(`.room-card[data-key="${adaRoom}"]`);
  await until(async () => /vision 2\/5 sections/.test(await adaCard.locator('.room-card-progress').textContent()), { timeout: 8000, message: 'progress in the overview' });
  assert.match(await adaCard.locator('.room-card-members').textContent(), /1 here now/);
  await screenshot(f, 'facilitator-console');

  // "Go to room" takes the facilitator into Ada's room, where her notes are.
  await help.getByRole('button', { name: 'Go to room' }).click();
  await f.locator(`.room[data-room="${adaRoom}"]`).waitFor();
  await until(async () => (await f.locator('.vision-col[data-section="needs"] .note textarea').count()) === 1, { message: 'notes seen by the facilitator' });
  await until(async () => (await ada.locator('.member-name').allTextContents()).includes('Fran'), { message: 'facilitator in presence' });
  await f.getByRole('button', { name: 'Console' }).click();
  await f.locator('.help-item', { hasText: 'Ada' }).getByRole('button', { name: 'Resolved' }).click();
  await ada.getByRole('button', { name: 'Raise hand' }).waitFor();
  await f.getByText('Nobody needs help right now.').waitFor();

  // Drag Bo into Ada's team: his page follows him there.
  const adaTeamName = await ada.locator('.room-title').textContent();
  await f.locator('.person', { hasText: 'Bo' }).locator('.person-name').dragTo(f.locator(`.team-col[data-key="${adaRoom}"]`));
  await bo.locator(`.room[data-room="${adaRoom}"]`).waitFor();
  assert.equal(await bo.locator('.room-title').textContent(), adaTeamName);
  await until(async () => (await bo.locator('.vision-col[data-section="vision"] .note textarea').count()) === 1, { message: 'Bo sees the team board' });

  // A short exercise: the warning fires for everyone, then time is up and breakouts close.
  await f.getByLabel('Title', { exact: true }).fill('Quick check');
  await f.getByLabel('Instructions').fill('Tick every acceptance criterion your team has met.');
  await f.getByLabel('Template').selectOption('');
  await f.getByLabel('Timebox (minutes)').fill('0.1');
  await f.getByLabel('Warning (seconds before the end)').fill('4');
  await f.getByLabel('Close breakouts when the time is up').check();
  await f.getByRole('button', { name: 'Broadcast exercise' }).click();
  for (const page of [ada, bo]) {
    await page.locator('.banner-title', { hasText: 'Quick check' }).waitFor();
    await page.locator('#countdown[data-phase="warned"]').waitFor({ timeout: 8000 });
    await page.locator('.toast', { hasText: 'left for this exercise' }).waitFor();
  }
  for (const page of [ada, bo]) {
    await page.locator('#countdown[data-phase="expired"]').waitFor({ timeout: 10_000 });
    await page.locator('.room[data-room="plenary"]').waitFor();
  }

  // Review: Team A on stage. An observer joins and lands on the staged board, read-only.
  const obs = await newPerson(browser);
  await joinWith(obs.page, links.observerLink, 'Olga');
  await f.getByRole('button', { name: `Put ${adaTeamName} on stage` }).click();
  const o = obs.page;
  await o.locator(`.room[data-room="${adaRoom}"]`).waitFor();
  await o.locator('.badge-stage').waitFor();
  await openTab(o, 'Vision Board');
  await until(async () => (await o.locator('.vision-col[data-section="needs"] .note p.note-text').first().textContent().catch(() => '')) === 'Trainers lack one live control room', { message: 'staged board visible' });
  // No edit controls for the audience.
  assert.equal(await o.locator('.tab-panel[data-panel="vision"] textarea:visible, .tab-panel[data-panel="vision"] button:visible').count(), 0, 'vision board is read-only');
  await openTab(o, 'Backlog');
  assert.equal(await o.getByLabel('New story title').isVisible(), false);
  await openTab(o, 'Feedback');
  await o.getByLabel('Your feedback').fill('Clear target group, crisp needs!');
  await o.getByRole('button', { name: 'Post feedback' }).click();
  // Ada, whose team is on stage (she is back in plenary), sees the stage entry and the feedback.
  await ada.getByRole('button', { name: /My team/ }).click();
  await openTab(ada, 'Feedback');
  await ada.locator('.feedback-card', { hasText: 'Clear target group, crisp needs!' }).waitFor();
  assert.match(await ada.locator('.feedback-card').first().textContent(), /Olga/);
  await until(async () => (await o.locator('.feedback-card.is-pending').count()) === 0, { message: 'feedback acknowledged' });
  await screenshot(o, 'review-feedback');
  await openTab(o, 'Vision Board');
  await screenshot(o, 'review-stage');

  // Clearing the stage sends the observer back to the plenary.
  await f.getByRole('button', { name: 'End review (clear stage)' }).click();
  await o.locator('.room[data-room="plenary"]').waitFor();

  // Attendees may pick their own team when the facilitator allows it.
  await f.getByRole('button', { name: 'Console' }).click();
  await f.getByLabel('Let attendees choose their team').check();
  await bo.locator('.room[data-room="plenary"]').waitFor();
  const otherTeam = adaRoom === 'room-1' ? 'Team B' : 'Team A';
  // The choice shows each team's size (from the view's team_sizes: Bo sees no other team's members).
  await bo.getByRole('button', { name: new RegExp(`^Join ${otherTeam} \\(\\d+ members?\\)$`) }).click();
  await bo.getByRole('button', { name: `${otherTeam} (your team)` }).waitFor();
  await f.locator('.team-col', { hasText: otherTeam }).locator('.person', { hasText: 'Bo' }).waitFor();

  for (const p of [fac, ...people, obs]) assert.deepEqual(p.problems, [], 'no page errors');
});
