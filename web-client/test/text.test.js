// Mergeable text (text.js): diffing what the user typed into a text op, and convergence of
// replicas typing at once (seeded; rerun a failure with SEED=n).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffText, emptyText, insert, liveIds, offsetAfter, parseCharId, remove, render, replace, textFromJson, textToJson } from '../js/lib/text.js';

test('diffText finds the changed middle in code points', () => {
  const ids = ['1.0.a', '1.1.a', '1.2.a', '1.3.a'];
  assert.equal(diffText('abcd', ids, 'abcd'), null);
  assert.deepEqual(diffText('abcd', ids, 'abXYcd'), { after: '1.1.a', insert: 'XY', delete: [], keptBefore: 2, keptAfter: 2 });
  assert.deepEqual(diffText('abcd', ids, 'ad'), { after: '1.0.a', insert: '', delete: ['1.1.a', '1.2.a'], keptBefore: 1, keptAfter: 1 });
  assert.deepEqual(diffText('abcd', ids, 'Zabcd'), { after: null, insert: 'Z', delete: [], keptBefore: 0, keptAfter: 4 });
  // An emoji is one character (two UTF-16 units).
  const e = diffText('a🙂b', ['1.0.a', '1.1.a', '1.2.a'], 'a🙃b');
  assert.deepEqual(e.delete, ['1.1.a']);
  assert.equal(e.insert, '🙃');
});

test('character ids parse, and a caret maps to the character before it', () => {
  assert.deepEqual(parseCharId('12.3.p-a.b'), { clock: 12, index: 3, client: 'p-a.b' });
  assert.equal(parseCharId('x.1.a'), null);
  const t = emptyText();
  replace(t, { clock: 1, client: 'h' }, 'abc');
  remove(t, [parseCharId('1.1.h')]);
  assert.equal(render(t), 'ac');
  assert.equal(offsetAfter(t, '1.0.h'), 1);
  assert.equal(offsetAfter(t, '1.1.h'), 1, 'a deleted anchor keeps the caret after the character before it');
  assert.equal(offsetAfter(t, '1.2.h'), 2);
  assert.deepEqual(textFromJson(textToJson(t)), t);
});

function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

test('replicas typing at once converge, whatever the causal delivery order (seeded)', (t) => {
  const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
  t.diagnostic(`seed ${seed} (rerun with SEED=${seed})`);
  const random = seededRandom(seed);
  for (let round = 0; round < 30; round += 1) {
    const n = 3 + Math.floor(random() * 3);
    const reps = Array.from({ length: n }, (_, i) => ({ name: `p-${i}`, text: emptyText(), clock: 1, seen: Array(n).fill(0) }));
    for (const r of reps) replace(r.text, { clock: 1, client: 'host' }, 'start');
    const log = [];
    const byAuthor = reps.map(() => []);
    const deliverable = (r) =>
      reps
        .map((_, a) => (a === reps.indexOf(r) ? undefined : byAuthor[a][r.seen[a]]))
        .filter((i) => i !== undefined && log[i].deps.every((need, j) => need <= r.seen[j]));
    const apply = (r, entry) => {
      remove(r.text, entry.del.map(parseCharId));
      insert(r.text, entry.stamp, entry.after === null ? null : parseCharId(entry.after), entry.ins);
      r.clock = Math.max(r.clock, entry.stamp.clock);
    };
    for (let step = 0; step < 80; step += 1) {
      const r = reps[Math.floor(random() * n)];
      if (random() < 0.5) {
        const ids = liveIds(r.text);
        const at = Math.floor(random() * (ids.length + 1));
        const del = ids.slice(at, at + Math.floor(random() * 3 * Number(random() < 0.4)));
        r.clock += 1;
        const entry = { stamp: { clock: r.clock, client: r.name }, after: at > 0 ? ids[at - 1] : null, ins: ['x', 'yz', 'é🙂', ''][Math.floor(random() * 4)], del, deps: [...r.seen], author: reps.indexOf(r) };
        if (entry.ins === '' && del.length === 0) entry.ins = 'w';
        apply(r, entry);
        r.seen[entry.author] += 1;
        byAuthor[entry.author].push(log.length);
        log.push(entry);
      } else {
        const ready = deliverable(r);
        if (ready.length > 0) {
          const i = ready[Math.floor(random() * ready.length)];
          apply(r, log[i]);
          r.seen[log[i].author] += 1;
        }
      }
    }
    for (;;) {
      const pairs = reps.flatMap((r) => deliverable(r).map((i) => [r, i]));
      if (pairs.length === 0) break;
      const [r, i] = pairs[Math.floor(random() * pairs.length)];
      apply(r, log[i]);
      r.seen[log[i].author] += 1;
    }
    const want = JSON.stringify(textToJson(reps[0].text));
    for (const r of reps) assert.equal(JSON.stringify(textToJson(r.text)), want, `seed ${seed} round ${round}`);
  }
});
