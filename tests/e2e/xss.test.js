// User text is rendered as text, never as HTML: an HTML/script probe used as every kind of user
// text (titles, names, room names, exercise, stories, notes, criteria, help, feedback) stays
// inert everywhere it shows up. Also captures the landing screen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launchBrowser, newPerson, joinWith, connected, openTab, addStory, until, screenshot } from './harness.js';

const PROBE = '<img src=x onerror=alert(1)>';
const PROBE2 = '"><svg onload=alert(2)><script>alert(3)</script>';

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

/** No element was created from user text and no handler ran. */
async function assertInert(person, where) {
  const found = await person.page.evaluate(() => ({
    img: document.querySelectorAll('img').length,
    svg: document.querySelectorAll('svg').length,
    script: document.querySelectorAll('body script').length,
    handlers: document.querySelectorAll('[onerror], [onload]').length,
  }));
  assert.deepEqual(found, { img: 0, svg: 0, script: 0, handlers: 0 }, `elements created from user text (${where})`);
  assert.deepEqual(person.dialogs, [], `a dialog fired (${where})`);
}

test('the XSS probe stays inert in every place user text appears', async () => {
  const fac = await newPerson(browser);
  const f = fac.page;
  await f.goto(server.url);
  await f.getByRole('heading', { name: 'Join a workshop' }).waitFor();
  await screenshot(f, 'landing');

  await f.getByLabel('Workshop title').fill(PROBE);
  await f.locator('#create-h').locator('..').getByLabel('Your name').fill(PROBE2);
  await f.getByRole('button', { name: 'Create workshop' }).click();
  await f.getByRole('heading', { name: 'Your workshop is ready' }).waitFor();
  assert.equal(await f.locator('.created-title').textContent(), PROBE);
  const joinLink = await f.getByLabel('Attendee link').inputValue();
  const observerLink = await f.getByLabel('Observer link').inputValue();
  await screenshot(f, 'landing-created');
  await assertInert(fac, 'landing after create');
  await f.getByRole('button', { name: 'Open the facilitator console' }).click();
  await connected(f);
  assert.equal(await f.locator('.topbar-title').textContent(), PROBE);
  assert.equal(await f.title(), `${PROBE} · Plenary`);

  const att = await newPerson(browser);
  await joinWith(att.page, joinLink, PROBE);
  const obs = await newPerson(browser);
  await joinWith(obs.page, observerLink, PROBE2);

  // Room names, assignment, the exercise text.
  await f.getByLabel('New breakout rooms (comma-separated names)').fill(`${PROBE}`);
  await f.getByRole('button', { name: 'Create breakouts' }).click();
  await f.getByRole('button', { name: 'Assign everyone automatically' }).click();
  await f.getByRole('button', { name: 'Open breakouts' }).click();
  await f.getByLabel('Title', { exact: true }).fill(PROBE);
  await f.getByLabel('Instructions').fill(PROBE2);
  await f.getByRole('button', { name: 'Broadcast exercise' }).click();
  const a = att.page;
  await a.locator('.room[data-room="room-1"]').waitFor();
  await a.locator('.banner-title').waitFor();
  assert.equal(await a.locator('.banner-title').textContent(), PROBE);
  assert.equal(await a.locator('.banner-instructions').textContent(), PROBE2);
  assert.equal(await a.locator('.room-title').textContent(), PROBE);

  // Board content: a story with its fields and a criterion, a vision note, a help request.
  await openTab(a, 'Backlog');
  await addStory(a, PROBE);
  await a.locator('.story-row', { hasText: PROBE }).click();
  await a.getByLabel('As a').fill(PROBE2);
  await a.getByLabel('Tag').fill(PROBE);
  await a.getByRole('button', { name: 'Add acceptance criterion' }).click();
  await a.locator('.criterion').first().getByLabel('Given').fill(PROBE);
  await a.locator('.criterion').first().getByLabel('Given').blur();
  await openTab(a, 'Vision Board');
  await a.getByLabel('New note in Vision').fill(PROBE2);
  await a.getByLabel('New note in Vision').press('Enter');
  await a.getByLabel('Help request note').fill(PROBE);
  await a.getByRole('button', { name: 'Raise hand' }).click();
  await until(async () => (await a.locator('.is-pending').count()) === 0, { message: 'edits acknowledged' });

  // The facilitator sees names, help and progress in the console; then puts the room on stage.
  await f.locator('.help-item').waitFor();
  assert.match(await f.locator('.help-who').textContent(), new RegExp(`^${PROBE.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.equal(await f.locator('.help-note').textContent(), PROBE);
  await f.getByRole('button', { name: `Put ${PROBE} on stage` }).click();

  // The observer reads the staged board (read-only rendering paths) and posts feedback.
  const o = obs.page;
  await o.locator('.room[data-room="room-1"]').waitFor();
  await openTab(o, 'Backlog');
  await o.locator('.story-row', { hasText: PROBE }).click();
  await o.locator('.story-sentence').waitFor();
  assert.match(await o.locator('.story-sentence').textContent(), /As a "><svg onload=alert\(2\)><script>alert\(3\)<\/script>, I want/);
  assert.equal(await o.locator('.criterion .gwt-given .gwt-text').textContent(), PROBE);
  await openTab(o, 'Vision Board');
  assert.equal(await o.locator('.vision-col[data-section="vision"] p.note-text').textContent(), PROBE2);
  await openTab(o, 'Feedback');
  await o.getByLabel('About').selectOption({ label: `Story: ${PROBE}` });
  await o.getByLabel('Your feedback').fill(PROBE);
  await o.getByRole('button', { name: 'Post feedback' }).click();
  await a.getByRole('tab', { name: /Feedback/ }).click();
  await a.locator('.tab-panel[data-panel="feedback"] .feedback-card', { hasText: PROBE }).waitFor();
  assert.match(await a.locator('.tab-panel[data-panel="feedback"] .feedback-meta').first().textContent(), /on “<img src=x onerror=alert\(1\)>”/);

  // Presence lists and the team board in the console show the names as text.
  assert.ok((await o.locator('.member-name').allTextContents()).includes(`${PROBE2} (you)`));
  await f.getByRole('button', { name: 'Console' }).click();
  assert.ok((await f.locator('.person-name').allTextContents()).includes(PROBE));

  for (const [p, where] of [[fac, 'facilitator'], [att, 'attendee'], [obs, 'observer']]) {
    await assertInert(p, where);
    assert.deepEqual(p.problems, [], `${where}: no page errors`);
  }
});
