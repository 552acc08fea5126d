// The story editor: title, the user story in three parts (As a / I want / So that), estimate,
// value, status and tag, and acceptance criteria as Given / When / Then rows with a met box.
// Read-only (review stage, observers, other teams) it renders the same story as text.

import { h, reconcile, setText, setValue, show, toggle, bindText, uid, select } from './dom.js';
import { bindProse } from './prose.js';
import { childrenOf, proseField, textField, textView, val } from './board-util.js';
import { newKey } from '../lib/fractional.js';
import { ESTIMATES, ITEM_STATUSES, MAX_LABEL_CHARS, MAX_TITLE_CHARS, SCHEMAS } from '../lib/schema.js';
import { label } from '../lib/messages.js';
import { mountPoker } from './poker.js';

function criterionRow(actions, editable) {
  const node = h('li', { class: 'criterion' });
  const id = () => node.dataset.id;
  const met = h('input', { type: 'checkbox', id: uid('met') });
  met.addEventListener('change', () => actions.set(id(), { met: met.checked }));
  met.disabled = !editable;
  const parts = ['given', 'when', 'then', 'and'].map((name) => {
    const word = name === 'and' ? 'And' : name[0].toUpperCase() + name.slice(1);
    if (!editable) {
      const v = h('span', { class: 'gwt-text' });
      return { name, el: h('p', { class: `gwt gwt-${name}` }, [h('strong', { text: `${word} ` }), v]), v };
    }
    const input = h('textarea', { rows: 1, class: 'gwt-input', placeholder: name === 'and' ? 'optional' : '', attrs: { 'aria-label': word } });
    const prose = bindProse(input, { read: () => node.obj?.texts?.[name] ?? null, edit: (e) => actions.text(id(), name, e) });
    input.addEventListener('focus', () => actions.focus(node.closest('[data-story]')?.dataset.story ?? null));
    return { name, el: h('label', { class: `gwt gwt-${name}` }, [h('span', { class: 'gwt-word', text: word }), input]), v: input, prose };
  });
  const del = editable ? h('button', { type: 'button', class: 'icon-btn', text: '×', attrs: { 'aria-label': 'Delete criterion' }, on: { click: () => actions.remove(id()) } }) : null;
  node.append(h('div', { class: 'criterion-met' }, [met, h('label', { htmlFor: met.id, text: 'Met' })]), h('div', { class: 'criterion-parts' }, parts.map((p) => p.el)), ...(del ? [del] : []));
  node.update = (obj) => {
    node.obj = obj;
    met.checked = obj.fields.met?.value === true;
    toggle(node, 'is-met', met.checked);
    for (const p of parts) {
      if (editable) p.prose.sync();
      else {
        setText(p.v, val(obj, p.name) || '—');
        show(p.el, p.name !== 'and' || Boolean(val(obj, 'and')));
      }
    }
  };
  return node;
}

function buildEditor(actions, storyId, moveTo) {
  const save = (name, value) => actions.set(storyId(), { [name]: value });
  const title = textField('Story title', 'title', save, { maxLength: MAX_TITLE_CHARS, className: 'field field-title' });
  const role = textField('As a', 'role', save, { maxLength: MAX_TITLE_CHARS, placeholder: 'role' });
  const goal = proseField('I want', 'goal', actions, storyId, { multiline: true, placeholder: 'goal' });
  const benefit = proseField('So that', 'benefit', actions, storyId, { multiline: true, placeholder: 'benefit' });
  const estimate = select([['', '—'], ...ESTIMATES.map((e) => [e, e])], { id: uid('est') });
  const value = h('input', { type: 'number', min: SCHEMAS.backlog_item.fields.value.min, max: SCHEMAS.backlog_item.fields.value.max, step: 1, id: uid('val'), inputMode: 'numeric' });
  const status = select(ITEM_STATUSES.map((s) => [s, label(s)]), { id: uid('st') });
  const tag = textField('Tag', 'tag', save, { maxLength: MAX_LABEL_CHARS });
  estimate.addEventListener('change', () => save('estimate', estimate.value || null));
  status.addEventListener('change', () => save('status', status.value));
  bindText(value, (v) => save('value', v === '' ? null : Number.parseInt(v, 10)));
  for (const f of [title, role, goal, benefit, tag]) f.input.addEventListener('focus', () => actions.focus(storyId()));
  const props = h('div', { class: 'story-props' }, [
    h('div', { class: 'field' }, [h('label', { htmlFor: estimate.id, text: 'Estimate' }), estimate]),
    h('div', { class: 'field' }, [h('label', { htmlFor: value.id, text: 'Value' }), value]),
    h('div', { class: 'field' }, [h('label', { htmlFor: status.id, text: 'Status' }), status]),
    tag.wrap,
  ]);
  const up = h('button', { type: 'button', class: 'btn btn-secondary btn-small', text: 'Move up' });
  const down = h('button', { type: 'button', class: 'btn btn-secondary btn-small', text: 'Move down' });
  const del = h('button', { type: 'button', class: 'btn btn-danger btn-small', text: 'Delete story' });
  const tools = h('div', { class: 'story-tools' }, [up, down, del]);
  const el = h('div', { class: 'story-form' }, [title.wrap, h('div', { class: 'user-story' }, [role.wrap, goal.wrap, benefit.wrap]), props, tools]);
  return {
    el,
    tools: { up, down, del },
    update(obj, index) {
      for (const f of [title, role, goal, benefit, tag]) f.update(obj);
      estimate.value = val(obj, 'estimate');
      status.value = val(obj, 'status') || 'new';
      setValue(value, val(obj, 'value'));
      up.disabled = index <= 0;
      down.onclick = () => moveTo(storyId(), index + 1);
      up.onclick = () => moveTo(storyId(), index - 1);
    },
  };
}

function buildViewer() {
  const title = h('h3', { class: 'story-view-title' });
  const sentence = h('p', { class: 'story-sentence' });
  const meta = h('p', { class: 'story-meta' });
  const tag = textView('Tag', 'tag');
  const el = h('div', { class: 'story-view' }, [title, sentence, meta, tag.wrap]);
  return {
    el,
    update(obj) {
      setText(title, val(obj, 'title') || 'Untitled story');
      setText(sentence, `As a ${val(obj, 'role') || '…'}, I want ${val(obj, 'goal') || '…'}, so that ${val(obj, 'benefit') || '…'}.`);
      setText(meta, [`Status: ${label(val(obj, 'status') || 'new')}`, `Estimate: ${val(obj, 'estimate') || '—'}`, `Value: ${val(obj, 'value') || '—'}`].join(' · '));
      tag.update(obj);
    },
  };
}

export function mountStory(parent, { actions, onDeleted }) {
  const body = h('div', { class: 'story-body' });
  const criteria = h('ul', { class: 'criteria' });
  const addCriterion = h('button', { type: 'button', class: 'btn btn-secondary btn-small', text: 'Add acceptance criterion' });
  const feedbackList = h('ul', { class: 'feedback-mini' });
  const feedbackBox = h('div', { class: 'story-feedback', hidden: true }, [h('h4', { text: 'Feedback on this story' }), feedbackList]);
  const empty = h('p', { class: 'empty', text: 'Select a story to see its details.' });
  const heading = h('h3', { class: 'visually-hidden', text: 'Story details' });
  const pokerBox = h('div', { class: 'poker-box' });
  // Estimation comes after the criteria: a team sizes a story once it knows when it is done.
  const el = h('div', { class: 'story card' }, [heading, empty, body, h('div', { class: 'criteria-box' }, [h('h4', { text: 'Acceptance criteria' }), criteria, addCriterion]), pokerBox, feedbackBox]);
  parent.append(el);
  const poker = mountPoker(pokerBox, { actions });

  let id = null;
  let mode = null;
  let view = null;
  let moveTo = () => {};
  addCriterion.addEventListener('click', () => {
    if (!id || !current) return;
    const last = childrenOf(current.tree, id, 'acceptance_criterion').at(-1);
    actions.create('acceptance_criterion', id, newKey(last?.obj.pos ?? null, null), { met: false });
  });
  let current = null;

  return {
    el,
    update(props) {
      current = props;
      id = props.id;
      moveTo = props.moveTo;
      const obj = id ? props.doc.objects.get(id) : null;
      show(empty, !obj);
      show(el.querySelector('.criteria-box'), Boolean(obj));
      show(body, Boolean(obj));
      show(pokerBox, Boolean(obj));
      if (!obj) return;
      el.dataset.story = id;
      const wanted = props.canEdit ? 'edit' : 'view';
      if (mode !== wanted) {
        mode = wanted;
        view = wanted === 'edit' ? buildEditor(actions, () => id, (sid, i) => moveTo(sid, i)) : buildViewer();
        body.replaceChildren(view.el);
        criteria.replaceChildren();
        if (view.tools) {
          view.tools.del.addEventListener('click', () => {
            if (view.tools.del.dataset.confirm === '1') {
              actions.remove(id);
              onDeleted();
            } else {
              view.tools.del.dataset.confirm = '1';
              view.tools.del.textContent = 'Click again to delete';
              setTimeout(() => {
                delete view.tools.del.dataset.confirm;
                view.tools.del.textContent = 'Delete story';
              }, 3000);
            }
          });
        }
      }
      view.update(obj, props.index);
      poker.update({ ...props, item: id });
      if (view.tools) view.tools.down.disabled = props.index >= props.total - 1;
      show(addCriterion, props.canEdit);
      const editable = props.canEdit;
      reconcile(
        criteria,
        childrenOf(props.tree, id, 'acceptance_criterion'),
        (c) => `${editable ? 'e' : 'v'}:${c.id}`,
        () => criterionRow(actions, editable),
        (node, c) => {
          node.dataset.id = c.id;
          node.update(c.obj);
          toggle(node, 'is-pending', props.pendingIds.has(c.id));
        },
      );
      const fb = childrenOf(props.tree, id, 'feedback');
      show(feedbackBox, fb.length > 0);
      reconcile(feedbackList, fb, (c) => c.id, () => h('li', { class: 'feedback-card small' }, [h('p'), h('span', { class: 'muted' })]), (node, c) => {
        setText(node.firstChild, val(c.obj, 'text'));
        setText(node.lastChild, val(c.obj, 'author') ? `— ${val(c.obj, 'author')}` : '');
      });
    },
  };
}
