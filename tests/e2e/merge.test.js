// Document model v2 in the browser: two attendees type into the same note at once and both texts
// survive (and each sees the other's characters while they are typed); stories created at the
// same instant, or tied by an older client, can be reordered.
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

const noteText = (page) => page.locator('.vision-vision .note textarea').first().inputValue();

test('two attendees typing into one note at once both keep their words', async () => {
  const { people } = await setupClass(browser, server, { attendees: ['Ada', 'Bo'], teams: ['Team A'] });
  const [ada, bo] = people.map((p) => p.page);
  await openTab(ada, 'Vision Board');
  await openTab(bo, 'Vision Board');
  await ada.getByLabel('New note in Vision').fill('We help trainers');
  await ada.getByLabel('New note in Vision').press('Enter');
  await until(async () => (await noteText(bo).catch(() => '')) === 'We help trainers', { message: 'the note on Bo' });

  // Ada types at the end while Bo watches: her characters reach Bo while she is still typing.
  const adaNote = ada.locator('.vision-vision .note textarea').first();
  const boNote = bo.locator('.vision-vision .note textarea').first();
  await adaNote.click();
  await ada.keyboard.press('Control+End');
  const typed = ' run live classes';
  let done = false;
  const typing = ada.keyboard.type(typed, { delay: 90 }).then(() => {
    done = true;
  });
  const seen = new Set();
  while (!done) {
    seen.add(await boNote.inputValue());
    await new Promise((r) => setTimeout(r, 40));
  }
  await typing;
  const partial = [...seen].filter((v) => v.startsWith('We help trainers ') && v.length < 'We help trainers'.length + typed.length);
  assert.ok(partial.length >= 2, `Bo saw Ada's text while she typed (seen: ${JSON.stringify([...seen])})`);
  const first = 'We help trainers run live classes';
  await until(async () => (await boNote.inputValue()) === first, { message: 'Ada’s words on Bo' });

  // Both type at once: Bo at the start, Ada at the end, then both at the same place.
  await boNote.click();
  await bo.keyboard.press('Control+Home');
  await adaNote.click();
  await ada.keyboard.press('Control+End');
  await Promise.all([ada.keyboard.type(' online', { delay: 35 }), bo.keyboard.type('Together, ', { delay: 35 })]);
  const second = 'Together, We help trainers run live classes online';
  await until(async () => (await adaNote.inputValue()) === second && (await boNote.inputValue()) === second, {
    message: 'both edits on both pages',
  });

  // The same caret position (after "trainers"): each run stays whole, neither is lost.
  const at = 'Together, We help trainers'.length;
  await adaNote.click();
  await adaNote.evaluate((el, i) => el.setSelectionRange(i, i), at);
  await boNote.click();
  await boNote.evaluate((el, i) => el.setSelectionRange(i, i), at);
  await Promise.all([ada.keyboard.type(' [ADA]', { delay: 30 }), bo.keyboard.type(' [BO]', { delay: 30 })]);
  await until(
    async () => {
      const [a, b] = [await adaNote.inputValue(), await boNote.inputValue()];
      return a === b && a.includes(' [ADA]') && a.includes(' [BO]') && a.length === second.length + ' [ADA]'.length + ' [BO]'.length;
    },
    { message: 'both runs whole on both pages' },
  );
  const final = await adaNote.inputValue();
  assert.ok(final.startsWith('Together, We help trainers ['), final);
  assert.ok(final.endsWith(' run live classes online'), final);
  // Bo's caret stayed right after what he typed, wherever Ada's text landed.
  const boCaret = await boNote.evaluate((el) => el.selectionStart);
  assert.equal(final.slice(boCaret - ' [BO]'.length, boCaret), ' [BO]');
  await screenshot(bo, 'merge-typing');
  for (const p of people) assert.deepEqual(p.problems, []);
});

test('stories created at the same instant, or tied by an older client, can be reordered', async () => {
  const { people } = await setupClass(browser, server, { attendees: ['Ada', 'Bo', 'Cy'], teams: ['Team B'] });
  const pages = people.map((p) => p.page);
  const [ada] = pages;
  for (const p of pages) await openTab(p, 'Backlog');
  await Promise.all(pages.map((p, i) => addStory(p, `Story ${'ABC'[i]}`)));
  await until(async () => {
    const all = await Promise.all(pages.map(backlogTitles));
    return all.every((t) => t.length === 3 && JSON.stringify(t) === JSON.stringify(all[0]));
  }, { message: 'three stories everywhere, in one order' });
  // Keys end with each member's suffix: no two are equal.
  const keys = await ada.evaluate(() => {
    const room = location.hash.split('/')[2];
    return [...window.plenary.sync.replica(room).view().doc.objects.values()].filter((o) => o.type === 'backlog_item').map((o) => o.pos);
  });
  assert.equal(new Set(keys).size, 3, `distinct keys ${keys}`);

  // The third moves between the first two, and everyone sees it there.
  const before = await backlogTitles(ada);
  await ada.locator('.story-row', { hasText: before[2] }).focus();
  await ada.keyboard.press('Alt+ArrowUp');
  const moved = [before[0], before[2], before[1]];
  for (const p of pages) await until(async () => JSON.stringify(await backlogTitles(p)) === JSON.stringify(moved), { message: `order ${moved}` });

  // Three stories stored with one key, as an older client made them (same key from three tabs).
  await Promise.all(
    pages.map((p, i) =>
      p.evaluate((title) => {
        const room = location.hash.split('/')[2];
        window.plenary.sync.edit(room, 'create', `tied${title.at(-1)}`, { type: 'backlog_item', parent: 'root', pos: 'a6', fields: { title, status: 'new' } });
      }, `Tied ${'XYZ'[i]}`),
    ),
  );
  const tied = ['Tied X', 'Tied Y', 'Tied Z'];
  for (const p of pages) await until(async () => JSON.stringify((await backlogTitles(p)).slice(3)) === JSON.stringify(tied), { message: 'tied stories by id' });
  // "Move up" on the last tied story puts it between the other two.
  await ada.locator('.story-row', { hasText: 'Tied Z' }).click();
  await ada.getByRole('button', { name: 'Move up' }).click();
  const untied = [...moved, 'Tied X', 'Tied Z', 'Tied Y'];
  for (const p of pages) await until(async () => JSON.stringify(await backlogTitles(p)) === JSON.stringify(untied), { message: `order ${untied}` });
  await until(async () => (await ada.locator('.visually-hidden[aria-live], [aria-live]').allTextContents()).some((t) => t.includes('Moved “Tied Z” to position 5')), { message: 'the announcement' });
  await screenshot(ada, 'merge-reorder');
  for (const p of people) assert.deepEqual(p.problems, []);
});

test('undo and redo take back only one’s own typing, never a teammate’s', async () => {
  const { people } = await setupClass(browser, server, { attendees: ['Di', 'Ed'], teams: ['Team C'] });
  const [di, ed] = people.map((p) => p.page);
  await openTab(di, 'Vision Board');
  await openTab(ed, 'Vision Board');
  await di.getByLabel('New note in Vision').fill('Plan');
  await di.getByLabel('New note in Vision').press('Enter');
  const diNote = di.locator('.vision-vision .note textarea').first();
  const edNote = ed.locator('.vision-vision .note textarea').first();
  await until(async () => (await edNote.inputValue().catch(() => '')) === 'Plan', { message: 'the note on Ed' });
  await edNote.click();
  await ed.keyboard.press('Control+End');
  await ed.keyboard.insertText(' together');
  await until(async () => (await diNote.inputValue()) === 'Plan together', { message: 'Ed’s words on Di' });
  await diNote.click();
  await di.keyboard.press('Control+Home');
  await di.keyboard.insertText('We ');
  await until(async () => (await edNote.inputValue()) === 'We Plan together', { message: 'Di’s words on Ed' });
  const both = async (want) => until(async () => (await diNote.inputValue()) === want && (await edNote.inputValue()) === want, { message: want });
  await di.keyboard.press('Control+z');
  await both('Plan together');
  await di.keyboard.press('Control+Shift+z');
  await both('We Plan together');
  // The buttons do the same; undoing the note's creation is refused: Ed has written in it.
  await di.getByRole('button', { name: 'Undo', exact: true }).click();
  await both('Plan together');
  await di.getByRole('button', { name: 'Undo', exact: true }).click();
  await until(async () => (await di.locator('.toast').allTextContents()).some((t) => t.includes('Nothing of yours to undo')), { message: 'the nothing-to-undo notice' });
  await both('Plan together');
  // A plain text box keeps the browser's own undo: Ctrl+Z there undoes the typing in the box,
  // not a change in the room.
  const draft = di.getByLabel('New note in Needs');
  await draft.click();
  await di.keyboard.insertText('draft');
  await di.keyboard.press('Control+z');
  assert.equal(await draft.inputValue(), '', 'the box undid its own typing');
  await both('Plan together');
  for (const p of people) assert.deepEqual(p.problems, []);
});
