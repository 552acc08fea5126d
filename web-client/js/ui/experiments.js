// Experiments: a Strategyzer-style Test Card (hypothesis, test, metric, success criterion,
// deadline, owner), then the Learning Card (observation, learning, decision).

import { h, reconcile, setText, show, toggle, select, uid } from './dom.js';
import { appendPos, childrenOf, proseField, textField, textView, val } from './board-util.js';
import { fieldKind } from '../lib/doc.js';
import { DECISIONS, SCHEMAS } from '../lib/schema.js';
import { label } from '../lib/messages.js';

const TEST_CARD = [
  ['hypothesis', 'We believe that', true],
  ['test', 'To verify that, we will', true],
  ['metric', 'And measure', true],
  ['criterion', 'We are right if', true],
  ['deadline', 'Deadline', false],
  ['owner', 'Owner', false],
];
const LEARNING_CARD = [
  ['observation', 'We observed', true],
  ['learning', 'From that we learned', true],
];

function experimentCard(actions, editable) {
  const node = h('article', { class: 'experiment card' });
  const id = () => node.dataset.id;
  const save = (name, value) => actions.set(id(), { [name]: value });
  const make = ([name, text, multiline]) => {
    if (!editable) return textView(text, name);
    const opts = { multiline, maxLength: SCHEMAS.experiment.fields[name].max, className: `field field-${name}` };
    return fieldKind('experiment', name) === 'prose' ? proseField(text, name, actions, id, opts) : textField(text, name, save, opts);
  };
  const testFields = TEST_CARD.map(make);
  const learnFields = LEARNING_CARD.map(make);
  const title = h('h3', { class: 'experiment-title' });
  let decision;
  let decisionText = null;
  if (editable) {
    decision = select([['', 'Not decided yet'], ...DECISIONS.map((d) => [d, label(d)])], { id: uid('dec') });
    decision.addEventListener('change', () => save('decision', decision.value || null));
    for (const f of [...testFields, ...learnFields]) f.input.addEventListener('focus', () => actions.focus(id()));
  } else {
    decisionText = h('p', { class: 'field-value' });
  }
  const decisionWrap = h('div', { class: 'field' }, editable ? [h('label', { htmlFor: decision.id, text: 'Decision' }), decision] : [h('span', { class: 'field-label', text: 'Decision' }), decisionText]);
  const del = editable ? h('button', { type: 'button', class: 'btn btn-ghost btn-small', text: 'Delete experiment', on: { click: () => actions.remove(id()) } }) : null;
  node.append(
    h('header', { class: 'panel-head' }, [title, h('span', { class: 'pending-marker', text: 'Saving…' }), del]),
    h('div', { class: 'experiment-cards' }, [
      h('section', { class: 'test-card' }, [h('h4', { text: 'Test card' }), h('div', { class: 'card-grid' }, testFields.map((f) => f.wrap))]),
      h('section', { class: 'learning-card' }, [h('h4', { text: 'Learning card' }), ...learnFields.map((f) => f.wrap), decisionWrap]),
    ]),
  );
  node.update = (obj, index) => {
    setText(title, `Experiment ${index + 1}`);
    for (const f of [...testFields, ...learnFields]) f.update(obj);
    if (decision) decision.value = val(obj, 'decision');
    if (decisionText) setText(decisionText, val(obj, 'decision') ? label(val(obj, 'decision')) : '—');
  };
  return node;
}

export function mountExperiments(parent, { actions }) {
  const add = h('button', { type: 'button', class: 'btn btn-primary', text: 'Add experiment' });
  const list = h('div', { class: 'experiment-list' });
  const empty = h('p', { class: 'empty', text: 'No experiments yet.' });
  const el = h('div', { class: 'experiments' }, [h('header', { class: 'panel-head' }, [h('h3', { text: 'Experiments' }), add]), empty, list]);
  parent.append(el);
  let props = null;
  add.addEventListener('click', () => {
    if (props) actions.create('experiment', 'root', appendPos(props.tree), {});
  });
  return {
    el,
    update(next) {
      props = next;
      const { tree, canEdit, pendingIds } = next;
      const items = childrenOf(tree, undefined, 'experiment');
      show(add, canEdit);
      show(empty, items.length === 0);
      reconcile(
        list,
        items,
        (c) => `${canEdit ? 'e' : 'v'}:${c.id}`,
        () => experimentCard(actions, canEdit),
        (node, c) => {
          node.dataset.id = c.id;
          node.update(c.obj, items.indexOf(c));
          toggle(node, 'is-pending', pendingIds.has(c.id));
        },
      );
    },
  };
}
