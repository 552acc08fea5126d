// Two attendees of one team co-edit and reorder the backlog; each sees the other's changes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launchBrowser, setupClass, openTab, addStory, backlogTitles, until, screenshot, newPerson } from './harness.js';

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

const sameOrder = (page, want) => until(async () => JSON.stringify(await backlogTitles(page)) === JSON.stringify(want), { message: `backlog ${want.join(' | ')}` });

test('two attendees co-edit and reorder a backlog live', async () => {
  const { people } = await setupClass(browser, server, { attendees: ['Ada', 'Bo'], teams: ['Team A'] });
  const [ada, bo] = people.map((p) => p.page);
  await openTab(ada, 'Backlog');
  await openTab(bo, 'Backlog');

  // Ada writes three stories; Bo sees them arrive, in order.
  for (const t of ['Export backlog as CSV', 'Invite a co-trainer', 'Run a timer per room']) await addStory(ada, t);
  await sameOrder(bo, ['Export backlog as CSV', 'Invite a co-trainer', 'Run a timer per room']);

  // Bo edits the second story's user story; Ada sees every field.
  await bo.locator('.story-row', { hasText: 'Invite a co-trainer' }).click();
  await bo.getByLabel('Story title', { exact: true }).fill('Invite a co-trainer by link');
  await bo.getByLabel('As a').fill('trainer');
  await bo.getByLabel('I want').fill('to invite a co-trainer with a link');
  await bo.getByLabel('So that').fill('we can split the rooms');
  await bo.getByLabel('Estimate').selectOption('5');
  await bo.getByLabel('Status').selectOption('ready');
  await bo.getByLabel('So that').blur();
  await sameOrder(ada, ['Export backlog as CSV', 'Invite a co-trainer by link', 'Run a timer per room']);
  await ada.locator('.story-row', { hasText: 'Invite a co-trainer by link' }).click();
  await until(async () => (await ada.getByLabel('So that').inputValue()) === 'we can split the rooms', { message: 'benefit on Ada' });
  assert.equal(await ada.getByLabel('As a').inputValue(), 'trainer');
  assert.equal(await ada.getByLabel('Estimate').inputValue(), '5');
  assert.equal(await ada.getByLabel('Status').inputValue(), 'ready');

  // Ada adds an acceptance criterion; Bo marks it met.
  await ada.getByRole('button', { name: 'Add acceptance criterion' }).click();
  const crit = ada.locator('.criterion').first();
  await crit.getByLabel('Given').fill('a workshop with a co-trainer link');
  await crit.getByLabel('When').fill('the co-trainer opens it');
  await crit.getByLabel('Then').fill('they see the facilitator console');
  await crit.getByLabel('Then').blur();
  await bo.locator('.story-row', { hasText: 'Invite a co-trainer by link' }).click();
  const boCrit = bo.locator('.criterion').first();
  await until(async () => (await boCrit.getByLabel('Then').inputValue().catch(() => '')) === 'they see the facilitator console', { message: 'criterion on Bo' });
  await boCrit.getByLabel('Met').check();
  await until(() => crit.getByLabel('Met').isChecked(), { message: 'met on Ada' });
  await until(async () => (await ada.locator('.story-row', { hasText: 'Invite a co-trainer by link' }).textContent()).includes('AC 1/1'), { message: 'AC chip' });

  // Keyboard reorder on Ada's side: the third story moves to the top with Alt+ArrowUp twice.
  const third = ada.locator('.story-row', { hasText: 'Run a timer per room' });
  await third.focus();
  await ada.keyboard.press('Alt+ArrowUp');
  await sameOrder(ada, ['Export backlog as CSV', 'Run a timer per room', 'Invite a co-trainer by link']);
  await ada.keyboard.press('Alt+ArrowUp');
  const afterKeys = ['Run a timer per room', 'Export backlog as CSV', 'Invite a co-trainer by link'];
  await sameOrder(ada, afterKeys);
  assert.equal(await ada.evaluate(() => document.activeElement?.querySelector('.story-title')?.textContent), 'Run a timer per room', 'focus stays on the moved story');
  await sameOrder(bo, afterKeys);

  // Drag and drop on Bo's side: the last story goes to the top.
  await bo.locator('.story-row', { hasText: 'Invite a co-trainer by link' }).dragTo(bo.locator('.story-row', { hasText: 'Run a timer per room' }), { targetPosition: { x: 40, y: 4 } });
  const afterDrag = ['Invite a co-trainer by link', 'Run a timer per room', 'Export backlog as CSV'];
  await sameOrder(bo, afterDrag);
  await sameOrder(ada, afterDrag);

  // Concurrent moves of two different stories converge to the same order on both sides.
  // The clicks come first, one after the other, while the list is still: a click lands where the
  // row was, and a row a teammate's move shifts under the pointer would take the click instead.
  // A click also ends any drag session the page might still track.
  const adaRow = ada.locator('.story-row', { hasText: 'Export backlog as CSV' });
  const boRow = bo.locator('.story-row', { hasText: 'Invite a co-trainer by link' });
  await adaRow.click();
  await boRow.click();
  await Promise.all([
    (async () => {
      await adaRow.focus();
      await ada.keyboard.press('Alt+Home');
    })(),
    (async () => {
      await boRow.focus();
      await bo.keyboard.press('Alt+End');
    })(),
  ]);
  await until(async () => {
    const [a, b] = await Promise.all([backlogTitles(ada), backlogTitles(bo)]);
    return JSON.stringify(a) === JSON.stringify(b) && a[0] === 'Export backlog as CSV' && a[2] === 'Invite a co-trainer by link';
  }, { message: 'converged after concurrent moves' }).catch(async (e) => {
    throw new Error(`${e.message}: Ada ${JSON.stringify(await backlogTitles(ada))}, Bo ${JSON.stringify(await backlogTitles(bo))}`);
  });

  // Nothing left pending, and nothing went wrong in either page.
  await until(async () => (await ada.locator('.is-pending').count()) === 0 && (await bo.locator('.is-pending').count()) === 0, { message: 'all acknowledged' });
  await ada.locator('.story-row', { hasText: 'Invite a co-trainer by link' }).click();
  await screenshot(ada, 'room-backlog');

  // The vision board: notes from both appear on both sides.
  await openTab(ada, 'Vision Board');
  await openTab(bo, 'Vision Board');
  await ada.getByLabel('New note in Vision').fill('Trainers run hands-on classes without juggling five tools');
  await ada.getByLabel('New note in Vision').press('Enter');
  await bo.getByLabel('New note in Needs').fill('One live view of every team');
  await bo.getByLabel('New note in Needs').press('Enter');
  for (const page of [ada, bo]) {
    await until(async () => (await page.locator('.vision-col[data-section="needs"] .note textarea').count()) === 1 && (await page.locator('.vision-col[data-section="vision"] .note textarea').count()) === 1, { message: 'notes on both' });
  }
  assert.equal(await bo.locator('.vision-col[data-section="vision"] .note textarea').inputValue(), 'Trainers run hands-on classes without juggling five tools');
  await screenshot(ada, 'room-vision');

  // Experiments: Bo writes the test card, Ada the learning card and the decision.
  await openTab(ada, 'Experiments');
  await openTab(bo, 'Experiments');
  await bo.getByRole('button', { name: 'Add experiment' }).click();
  const boCard = bo.locator('.experiment').first();
  await boCard.getByLabel('We believe that').fill('trainers will pay for one live control room');
  await boCard.getByLabel('And measure').fill('sign-ups after the demo');
  await boCard.getByLabel('And measure').blur();
  const adaCard = ada.locator('.experiment').first();
  await until(async () => (await adaCard.getByLabel('And measure').inputValue().catch(() => '')) === 'sign-ups after the demo', { message: 'test card on Ada' });
  await adaCard.getByLabel('From that we learned').fill('the overview is the hook');
  await adaCard.getByLabel('Decision').selectOption('persevere');
  await adaCard.getByLabel('From that we learned').blur();
  await until(async () => (await boCard.getByLabel('Decision').inputValue()) === 'persevere' && (await boCard.getByLabel('From that we learned').inputValue()) === 'the overview is the hook', { message: 'learning card on Bo' });

  await screenshot(bo, 'room-experiments');

  // An edit the server refuses is rolled back with a visible message.
  await bo.evaluate(() => window.plenary.sync.set('room-1', 'no-such-story', { title: 'ghost' }));
  await bo.locator('.toast-error', { hasText: 'was undone' }).waitFor();
  assert.match(await bo.locator('.toast-error').last().textContent(), /does not exist/);

  // A narrow phone-sized view of the same room.
  const phone = await newPerson(browser, { width: 390, height: 844 });
  const session = await ada.evaluate(() => sessionStorage.getItem('plenary.session'));
  // The same person on a phone: the tab's session is what a reload reconnects with.
  await phone.page.goto(`${server.url}/#/room/room-1`);
  await phone.page.evaluate((s) => sessionStorage.setItem('plenary.session', s), session);
  await phone.page.reload();
  await phone.page.locator('#connection[data-status="connected"]').waitFor();
  await openTab(phone.page, 'Backlog');
  await sameOrder(phone.page, await backlogTitles(ada));
  const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling at 390 px (overflow ${overflow} px)`);
  await screenshot(phone.page, 'narrow-390');

  for (const p of [...people, phone]) assert.deepEqual(p.problems, [], 'no page errors');
});
