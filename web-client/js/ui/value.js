// Value scoring ("buy a feature"): each member spreads a budget of points over the backlog,
// sealed until the reveal like poker cards (the server holds everyone's points; the page knows
// only its own and who has placed theirs). After the reveal: totals per story, "set value from
// totals", and a suggested order by value per point (WSJF-like) that the team may apply or not.

import { h, reconcile, setText, show, toggle, uid } from './dom.js';
import { appendPos, childrenOf, val } from './board-util.js';
import { newKey } from '../lib/fractional.js';
import { MAX_BUDGET } from '../lib/schema.js';
import { DEFAULT_BUDGET, allocationTotals, formatAllocation, parseAllocation, points, valuePerPointOrder } from '../lib/estimate.js';

/** The latest value round of the room, or null. */
const latestRound = (tree) => childrenOf(tree, undefined, 'value_round').at(-1) ?? null;

const budgetOf = (obj) => (Number.isInteger(obj?.fields.budget?.value) ? obj.fields.budget.value : DEFAULT_BUDGET);

function pointsRow() {
  const input = h('input', { type: 'number', min: 0, step: 1, inputMode: 'numeric', id: uid('pts'), class: 'value-points' });
  const name = h('label', { class: 'value-story', htmlFor: input.id });
  const total = h('span', { class: 'value-total' });
  const bar = h('span', { class: 'value-bar', attrs: { 'aria-hidden': 'true' } });
  return h('li', { class: 'value-row' }, [name, input, total, bar]);
}

export function mountValue(parent, { actions }) {
  const budgetInput = h('input', { type: 'number', min: 1, max: MAX_BUDGET, step: 1, value: String(DEFAULT_BUDGET), id: uid('budget') });
  const start = h('button', { type: 'button', class: 'btn btn-primary', text: 'Start value scoring' });
  const starter = h('div', { class: 'value-start button-row' }, [h('label', { htmlFor: budgetInput.id, text: 'Points per member' }), budgetInput, start]);
  const intro = h('p', { class: 'hint', text: 'Each member spreads a budget of points over the stories. Nobody sees anyone else’s points until the reveal.' });
  const status = h('p', { class: 'value-status', attrs: { 'aria-live': 'polite' } });
  const rows = h('ol', { class: 'value-rows' });
  const left = h('p', { class: 'value-left' });
  const submit = h('button', { type: 'button', class: 'btn btn-primary btn-small', text: 'Submit my points' });
  const withdraw = h('button', { type: 'button', class: 'btn btn-ghost btn-small', text: 'Take my points back' });
  const reveal = h('button', { type: 'button', class: 'btn btn-secondary btn-small', text: 'Reveal everyone’s points' });
  const auto = h('input', { type: 'checkbox', id: uid('vauto') });
  const autoWrap = h('span', { class: 'poker-auto' }, [auto, h('label', { htmlFor: auto.id, text: 'Reveal when everyone here has submitted' })]);
  const error = h('p', { class: 'form-error', attrs: { role: 'alert' } });
  const tools = h('div', { class: 'button-row' }, [submit, withdraw, reveal, autoWrap]);
  const setValues = h('button', { type: 'button', class: 'btn btn-primary btn-small', text: 'Set each story’s value from the totals' });
  const again = h('button', { type: 'button', class: 'btn btn-secondary btn-small', text: 'New scoring round' });
  const after = h('div', { class: 'button-row' }, [setValues, again]);
  const round = h('section', { class: 'value-round card', attrs: { 'aria-label': 'Value scoring' } }, [h('h3', { text: 'Value scoring' }), intro, status, rows, left, error, tools, after]);
  const order = h('ol', { class: 'value-order' });
  const applyOrder = h('button', { type: 'button', class: 'btn btn-secondary btn-small', text: 'Apply this order to the backlog' });
  const orderNote = h('p', { class: 'hint', text: 'Highest value per estimated point first (like WSJF, with the estimate as the job size). Stories without a value or a sized estimate stay at the end. A suggestion: the team decides.' });
  const suggestion = h('section', { class: 'value-suggestion card', attrs: { 'aria-label': 'Suggested order' } }, [h('h3', { text: 'Suggested order: value per point' }), orderNote, order, applyOrder]);
  const el = h('div', { class: 'value-board' }, [starter, round, suggestion]);
  parent.append(el);

  let props = null;
  let current = null;
  let items = [];
  // The member's draft points per story while they are placing them (not sent until submit),
  // the round it belongs to, whether it has edits not submitted, and the submitted points it
  // was last filled from (they arrive after the snapshot on a reload, or from another tab).
  let draft = new Map();
  let draftRound = null;
  let draftDirty = false;
  let draftFrom;

  const draftText = () => formatAllocation(items.map((c) => [c.id, draft.get(c.id) ?? 0]));
  const spent = () => items.reduce((n, c) => n + (draft.get(c.id) ?? 0), 0);

  start.addEventListener('click', () => {
    const budget = Number.parseInt(budgetInput.value, 10);
    if (!props || !Number.isInteger(budget) || budget < 1 || budget > MAX_BUDGET) {
      setText(error, 'The budget is a whole number from 1 to 10,000.');
      return;
    }
    setText(error, '');
    actions.create('value_round', 'root', appendPos(props.tree), { budget, auto_reveal: true });
  });
  again.addEventListener('click', () => props && actions.create('value_round', 'root', appendPos(props.tree), { budget: budgetOf(current?.obj), auto_reveal: current?.obj.fields.auto_reveal?.value === true }));
  rows.addEventListener('input', (e) => {
    const input = e.target.closest('input.value-points');
    if (!input) return;
    const n = Number.parseInt(input.value, 10);
    draft.set(input.closest('li').dataset.key, Number.isInteger(n) && n > 0 ? n : 0);
    draftDirty = true;
    renderLeft();
  });
  submit.addEventListener('click', () => {
    if (!current) return;
    const budget = budgetOf(current.obj);
    if (spent() > budget) {
      setText(error, `That is ${spent()} points; you have ${budget}.`);
      return;
    }
    setText(error, '');
    if (actions.seal(current.id, 'points', draftText())) draftDirty = false;
  });
  withdraw.addEventListener('click', () => current && actions.seal(current.id, 'points', null));
  reveal.addEventListener('click', () => current && actions.reveal(current.id));
  auto.addEventListener('change', () => current && actions.set(current.id, { auto_reveal: auto.checked }));
  setValues.addEventListener('click', () => {
    if (!current?.obj.revealed) return;
    const totals = allocationTotals(Object.values(current.obj.sealed?.points ?? {}).map((e) => e.value));
    for (const c of items) {
      const total = totals[c.id] ?? 0;
      if (c.obj.fields.value?.value !== total) actions.set(c.id, { value: total });
    }
  });
  applyOrder.addEventListener('click', () => {
    if (!props) return;
    // Fresh keys in the suggested order, one move per story: simple, and a single undo group.
    let key = null;
    for (const id of suggested()) {
      key = newKey(key, null);
      actions.move(id, 'root', key);
    }
  });

  const suggested = () => valuePerPointOrder(items.map((c) => ({ id: c.id, value: Number.isInteger(c.obj.fields.value?.value) ? c.obj.fields.value.value : null, estimate: c.obj.fields.estimate?.value ?? null })));

  function renderLeft() {
    if (!current || current.obj.revealed) return;
    const budget = budgetOf(current.obj);
    const n = spent();
    setText(left, n > budget ? `${n - budget} points over your budget of ${budget}` : `${budget - n} of ${budget} points left to place`);
    toggle(left, 'is-over', n > budget);
  }

  return {
    el,
    update(next) {
      props = next;
      const { tree, canEdit, me, team, names, present } = next;
      items = childrenOf(tree, undefined, 'backlog_item').map((c) => ({ id: c.id, obj: c.obj }));
      current = latestRound(tree);
      const voter = me.role === 'attendee' && team.has(me.participant);
      show(starter, canEdit && current === null);
      show(round, current !== null);
      if (current !== null) {
        const revealed = Boolean(current.obj.revealed);
        const budget = budgetOf(current.obj);
        const entries = current.obj.sealed?.points ?? {};
        const totals = revealed ? allocationTotals(Object.values(entries).map((e) => e.value)) : {};
        const mine = voter && !revealed ? actions.ownSealed(current.id, 'points') : undefined;
        // A new round starts an empty draft; one's own submitted points (after a reload, or
        // sent from another tab) refill it unless the member is in the middle of changing it.
        if (draftRound !== current.id) {
          draft = new Map();
          draftRound = current.id;
          draftDirty = false;
          draftFrom = undefined;
        }
        if (mine !== draftFrom && !draftDirty) {
          draft = new Map();
          if (typeof mine === 'string') {
            try {
              for (const [id, p] of parseAllocation(mine)) draft.set(id, p);
            } catch {
              // Not an allocation this page could read: start empty.
            }
          }
        }
        draftFrom = mine;
        // Only the team counts: an entry of someone who has since left the team is not one of "N of M".
        const submitted = Object.entries(entries)
          .filter(([m, e]) => team.has(m) && (e.value === true || typeof e.value === 'string'))
          .map(([m]) => m);
        const waiting = [...team.keys()].filter((id) => present.has(id) && !submitted.includes(id));
        if (revealed) setText(status, `Revealed: ${submitted.length} member${submitted.length === 1 ? '' : 's'} placed ${budget} points each at most.`);
        else
          setText(
            status,
            `${submitted.length} of ${team.size} submitted` +
              (waiting.length ? ` · waiting for ${waiting.map((id) => team.get(id) ?? names.get(id)).join(', ')}` : '') +
              (typeof mine === 'string' ? ' · your points are in (hidden from the others)' : ''),
          );
        const max = Math.max(1, ...Object.values(totals));
        const editable = voter && canEdit && !revealed;
        reconcile(rows, items, (c) => c.id, pointsRow, (node, c) => {
          const [name, input, total, bar] = node.children;
          setText(name, val(c.obj, 'title') || 'Untitled story');
          show(input, editable);
          input.max = String(budget);
          if (document.activeElement !== input) input.value = draft.get(c.id) ? String(draft.get(c.id)) : '';
          show(total, revealed);
          setText(total, revealed ? `${totals[c.id] ?? 0} points` : '');
          show(bar, revealed);
          bar.style.width = revealed ? `${Math.round(((totals[c.id] ?? 0) / max) * 100)}%` : '0';
        });
        show(left, editable);
        renderLeft();
        show(tools, canEdit && !revealed);
        show(submit, editable);
        show(withdraw, editable && typeof mine === 'string');
        reveal.disabled = submitted.length === 0;
        auto.checked = current.obj.fields.auto_reveal?.value === true;
        show(after, canEdit && revealed);
      }
      const wanted = suggested();
      const byId = new Map(items.map((c) => [c.id, c]));
      show(suggestion, items.length > 1);
      reconcile(order, wanted, (id) => id, () => h('li'), (node, id) => {
        const c = byId.get(id);
        const v = c.obj.fields.value?.value;
        const p = points(c.obj.fields.estimate?.value ?? '');
        const ratio = Number.isInteger(v) && p ? ` · ${v} value / ${p} pts = ${(v / p).toFixed(1)}` : ' · needs a value and an estimate';
        setText(node, `${val(c.obj, 'title') || 'Untitled story'}${ratio}`);
      });
      const same = wanted.every((id, i) => items[i]?.id === id);
      applyOrder.disabled = same;
      show(applyOrder, canEdit);
      setText(applyOrder, same ? 'The backlog is in this order' : 'Apply this order to the backlog');
    },
  };
}
