// Planning poker on one backlog item: start a round on a scale, cast a hidden card (the server
// keeps it sealed: the page only ever knows its own card and who else has voted), reveal by hand
// or automatically once everyone present has voted, then see every card with min, max, median,
// mode and agreement; accept an estimate (written into the story as a normal edit) or re-vote
// (a new round; earlier rounds stay as history).

import { h, reconcile, setText, show, toggle, select, uid } from './dom.js';
import { childrenOf, val } from './board-util.js';
import { newKey } from '../lib/fractional.js';
import { scaleCards, stats } from '../lib/estimate.js';

const SCALE_NAMES = { fibonacci: 'Fibonacci', tshirt: 'T-shirt' };
const CARD_LABELS = { coffee: '☕', '?': '?' };
const cardLabel = (card) => CARD_LABELS[card] ?? card;

/** The cards of a revealed round: [[member, card]] in member order. */
function revealedCards(obj) {
  return Object.entries(obj.sealed?.votes ?? {})
    .filter(([, entry]) => typeof entry.value === 'string')
    .map(([member, entry]) => [member, entry.value]);
}

/** Who has a sealed card in an unrevealed round. */
function voted(obj) {
  return new Set(
    Object.entries(obj.sealed?.votes ?? {})
      .filter(([, entry]) => entry.value === true)
      .map(([member]) => member),
  );
}

function statsLine(st) {
  if (st.votes === 0) return 'No cards were cast.';
  const parts = [];
  if (st.min !== null) parts.push(`min ${st.min}`, `max ${st.max}`, `median ${st.median}`, `mode ${st.mode.join(' / ')}`);
  if (st.average !== null) parts.push(`average ${st.average}`);
  if (st.sized < st.votes) parts.push(`${st.votes - st.sized} not sized (? or ☕)`);
  return parts.join(' · ');
}

export function mountPoker(parent, { actions }) {
  const scale = select(Object.entries(SCALE_NAMES), { id: uid('scale') });
  const start = h('button', { type: 'button', class: 'btn btn-secondary btn-small', text: 'Start a poker round' });
  const starter = h('div', { class: 'poker-start' }, [h('label', { htmlFor: scale.id, text: 'Scale' }), scale, start]);
  const status = h('p', { class: 'poker-status', attrs: { 'aria-live': 'polite' } });
  const cards = h('div', { class: 'poker-cards', attrs: { role: 'group', 'aria-label': 'Your card' } });
  const voters = h('ul', { class: 'poker-voters', attrs: { 'aria-label': 'Who has voted' } });
  const auto = h('input', { type: 'checkbox', id: uid('auto') });
  const autoWrap = h('span', { class: 'poker-auto' }, [auto, h('label', { htmlFor: auto.id, text: 'Reveal when everyone here has voted' })]);
  const reveal = h('button', { type: 'button', class: 'btn btn-primary btn-small', text: 'Reveal cards' });
  const voting = h('div', { class: 'poker-voting' }, [cards, voters, h('div', { class: 'button-row' }, [reveal, autoWrap])]);
  const results = h('ul', { class: 'poker-results', attrs: { 'aria-label': 'Cards' } });
  const summary = h('p', { class: 'poker-stats' });
  const consensus = h('span', { class: 'badge' });
  const accept = select([], { id: uid('accept') });
  const acceptBtn = h('button', { type: 'button', class: 'btn btn-primary btn-small', text: 'Accept estimate' });
  const revote = h('button', { type: 'button', class: 'btn btn-secondary btn-small', text: 'Re-vote' });
  const accepted = h('p', { class: 'poker-accepted' });
  const decide = h('div', { class: 'button-row poker-decide' }, [h('label', { htmlFor: accept.id, text: 'Size to accept' }), accept, acceptBtn, revote]);
  const outcome = h('div', { class: 'poker-outcome' }, [results, h('p', {}, [consensus, ' ', summary]), accepted, decide]);
  const history = h('ol', { class: 'poker-history' });
  const historyBox = h('details', { class: 'poker-history-box' }, [h('summary', { text: 'Earlier rounds' }), history]);
  const title = h('h4', { text: 'Planning poker' });
  const el = h('section', { class: 'poker', attrs: { 'aria-label': 'Planning poker' } }, [title, status, starter, voting, outcome, historyBox]);
  parent.append(el);

  let props = null;
  let round = null;

  const newRound = (scaleName, autoReveal) => {
    const last = childrenOf(props.tree, props.item, 'estimation_round').at(-1);
    actions.create('estimation_round', props.item, newKey(last?.obj.pos ?? null, null), { scale: scaleName, auto_reveal: autoReveal });
  };
  start.addEventListener('click', () => props && newRound(scale.value, true));
  revote.addEventListener('click', () => round && newRound(val(round.obj, 'scale') || 'fibonacci', round.obj.fields.auto_reveal?.value === true));
  reveal.addEventListener('click', () => round && actions.reveal(round.id));
  auto.addEventListener('change', () => round && actions.set(round.id, { auto_reveal: auto.checked }));
  acceptBtn.addEventListener('click', () => {
    if (!round || !accept.value) return;
    actions.set(props.item, { estimate: accept.value });
    actions.set(round.id, { accepted: accept.value });
  });
  cards.addEventListener('click', (e) => {
    const button = e.target.closest('button[data-card]');
    if (!button || !round) return;
    const mine = actions.ownSealed(round.id, 'votes');
    // Pressing one's own card again takes it back.
    actions.seal(round.id, 'votes', mine === button.dataset.card ? null : button.dataset.card);
  });

  return {
    el,
    /** `item`: the story's id; the rest as every board gets it (tree, team, names, present, me). */
    update(next) {
      props = next;
      const { tree, item, canEdit, me, team, names, present } = next;
      const rounds = childrenOf(tree, item, 'estimation_round');
      round = rounds.at(-1) ?? null;
      const voter = me.role === 'attendee' && team.has(me.participant);
      show(starter, canEdit && round === null);
      show(voting, round !== null && !round.obj.revealed);
      show(outcome, round !== null && Boolean(round.obj.revealed));
      show(historyBox, rounds.length > 1);
      if (round === null) {
        setText(status, canEdit ? 'No round yet: start one to estimate this story together.' : 'No estimation round yet.');
      }
      if (round !== null && !round.obj.revealed) {
        const scaleName = val(round.obj, 'scale') || 'fibonacci';
        const mine = voter ? actions.ownSealed(round.id, 'votes') : undefined;
        // Only the team counts: a card of someone who has since left the team is not one of "N of M".
        const cast = new Set([...voted(round.obj)].filter((id) => team.has(id)));
        const waiting = [...team.keys()].filter((id) => present.has(id) && !cast.has(id));
        setText(
          status,
          `Round ${rounds.length} · ${SCALE_NAMES[scaleName]} · ${cast.size} of ${team.size} voted` +
            (waiting.length ? ` · waiting for ${waiting.map((id) => team.get(id)).join(', ')}` : ''),
        );
        show(cards, voter);
        reconcile(cards, voter ? scaleCards(scaleName) : [], (c) => c, (c) => h('button', { type: 'button', class: 'poker-card', dataset: { card: c }, text: cardLabel(c), attrs: { 'aria-label': c === 'coffee' ? 'Coffee break' : `Card ${c}` } }), (node, c) => {
          node.setAttribute('aria-pressed', String(mine === c));
          toggle(node, 'is-chosen', mine === c);
          node.disabled = !canEdit;
        });
        const everyone = [...team.keys()];
        reconcile(voters, everyone, (id) => id, () => h('li'), (node, id) => {
          const done = cast.has(id);
          const away = !present.has(id);
          setText(node, `${team.get(id) ?? names.get(id) ?? 'someone'}: ${done ? 'voted' : away ? 'away' : 'thinking…'}${id === me.participant ? ' (you)' : ''}`);
          toggle(node, 'has-voted', done);
          toggle(node, 'is-away', away && !done);
        });
        auto.checked = round.obj.fields.auto_reveal?.value === true;
        auto.disabled = !canEdit;
        reveal.disabled = !canEdit || cast.size === 0;
        show(reveal, canEdit);
        show(autoWrap, canEdit);
      }
      if (round !== null && round.obj.revealed) {
        const scaleName = val(round.obj, 'scale') || 'fibonacci';
        const shown = revealedCards(round.obj);
        const st = stats(scaleName, shown.map(([, c]) => c));
        setText(status, `Round ${rounds.length} · ${SCALE_NAMES[scaleName]} · revealed`);
        reconcile(results, shown, ([m]) => m, () => h('li', {}, [h('span', { class: 'poker-card is-shown' }), h('span', { class: 'poker-name' })]), (node, [m, c]) => {
          setText(node.firstChild, cardLabel(c));
          setText(node.lastChild, names.get(m) ?? m);
        });
        setText(summary, statsLine(st));
        setText(consensus, st.consensus ? 'Consensus' : st.votes ? 'No consensus' : '');
        consensus.className = `badge ${st.consensus ? 'badge-team' : 'badge-readonly'}`;
        const sizes = scaleCards(scaleName).filter((c) => c !== 'coffee');
        if (accept.options.length !== sizes.length || accept.dataset.scale !== scaleName) {
          accept.replaceChildren(...sizes.map((c) => h('option', { value: c, text: c })));
          accept.dataset.scale = scaleName;
          accept.dataset.round = '';
        }
        // Preselect the suggestion once per round, then leave the team's choice alone.
        if (accept.dataset.round !== round.id) {
          accept.value = val(round.obj, 'accepted') || st.suggestion || sizes[0];
          accept.dataset.round = round.id;
        }
        const done = val(round.obj, 'accepted');
        setText(accepted, done ? `Accepted: ${done}` : '');
        show(accepted, Boolean(done));
        show(decide, canEdit);
      }
      reconcile(history, rounds.slice(0, -1), (r) => r.id, () => h('li'), (node, r) => {
        const i = rounds.indexOf(r) + 1;
        if (!r.obj.revealed) {
          setText(node, `Round ${i}: not revealed`);
          return;
        }
        const shown = revealedCards(r.obj).map(([, c]) => c);
        const st = stats(val(r.obj, 'scale') || 'fibonacci', shown);
        setText(node, `Round ${i}: ${shown.map(cardLabel).join(', ') || 'no cards'}${st.consensus ? ' (consensus)' : ''}${val(r.obj, 'accepted') ? ` · accepted ${val(r.obj, 'accepted')}` : ''}`);
      });
    },
  };
}
