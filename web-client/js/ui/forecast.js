// The team's forecast: throughput samples (typed in, or recorded from the backlog's done stories
// each sprint) or a velocity range, the number of stories left and a sprint horizon, run through
// a Monte Carlo simulation (web-client/js/lib/forecast.js, a port of protocol/src/forecast.rs:
// the same seed gives the same answer everywhere). Shows when the stories will be done and how
// many will be done by the horizon, at 50/70/85/95 % confidence, with a histogram as SVG (and
// the same numbers as a table for screen readers).

import { h, reconcile, setText, setValue, show, uid, bindText } from './dom.js';
import { appendPos, childrenOf, textOrNull, val } from './board-util.js';
import { CONFIDENCES, DEFAULT_TRIALS, MAX_ITEMS, MAX_SPRINTS, parseSamples, runForecast } from '../lib/forecast.js';

const SVG = 'http://www.w3.org/2000/svg';
const svg = (tag, attrs = {}, children = []) => {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
};
const newSeed = () => Math.floor(Math.random() * 2 ** 31);

/** The forecast's input from the object, or { error } saying what is missing. */
export function inputOf(obj, notDone) {
  const samplesText = val(obj, 'throughput');
  const items = Number.isInteger(obj.fields.items?.value) ? obj.fields.items.value : notDone;
  const sprints = Number.isInteger(obj.fields.sprints?.value) ? obj.fields.sprints.value : 3;
  const seed = Number.isInteger(obj.fields.seed?.value) ? obj.fields.seed.value : 1;
  let throughput;
  if (samplesText.trim() !== '') {
    try {
      throughput = { samples: parseSamples(samplesText) };
    } catch (e) {
      return { error: e.message };
    }
  } else if (Number.isInteger(obj.fields.low?.value) && Number.isInteger(obj.fields.high?.value)) {
    throughput = { range: { low: obj.fields.low.value, high: obj.fields.high.value } };
  } else {
    return { error: 'Type the stories done in each past sprint (e.g. 3, 5, 4), or a range from low to high.' };
  }
  if (items < 1) return { error: 'There is nothing left to forecast: every story is done.' };
  return { input: { throughput, items, sprints, trials: DEFAULT_TRIALS, seed } };
}

/** Draws the "sprints until done" histogram: labelled axes, one bar per sprint count. */
function histogram(result) {
  const W = 560;
  const H = 220;
  const left = 48;
  const bottom = 40;
  const top = 12;
  const buckets = result.histogram;
  const max = Math.max(...buckets.map((b) => b.trials));
  const plotW = W - left - 12;
  const plotH = H - top - bottom;
  const bw = plotW / buckets.length;
  const y = (n) => top + plotH - (n / max) * plotH;
  const at85 = result.when.find((l) => l.confidence === 85)?.value;
  const bars = buckets.map((b, i) =>
    svg('rect', { x: left + i * bw + 1, y: y(b.trials), width: Math.max(1, bw - 2), height: top + plotH - y(b.trials), class: b.sprints <= at85 ? 'bar bar-in' : 'bar' }, [svg('title', {}, [document.createTextNode(`${b.sprints} sprints: ${b.trials} trials`)])]),
  );
  const step = Math.max(1, Math.ceil(buckets.length / 12));
  const xLabels = buckets
    .filter((_, i) => i % step === 0)
    .map((b) => {
      const i = buckets.indexOf(b);
      return svg('text', { x: left + i * bw + bw / 2, y: top + plotH + 16, 'text-anchor': 'middle', class: 'tick' }, [document.createTextNode(String(b.sprints))]);
    });
  const yTicks = [0, Math.round(max / 2), max].map((n) => svg('text', { x: left - 6, y: y(n) + 4, 'text-anchor': 'end', class: 'tick' }, [document.createTextNode(String(n))]));
  const title = `Sprints to finish ${result.items} stories over ${result.trials.toLocaleString('en')} trials; 85 % of trials finish within ${at85} sprints.`;
  return svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'forecast-chart', role: 'img', 'aria-label': title }, [
    svg('line', { x1: left, y1: top + plotH, x2: W - 12, y2: top + plotH, class: 'axis' }),
    svg('line', { x1: left, y1: top, x2: left, y2: top + plotH, class: 'axis' }),
    ...bars,
    ...xLabels,
    ...yTicks,
    svg('text', { x: left + plotW / 2, y: H - 4, 'text-anchor': 'middle', class: 'axis-label' }, [document.createTextNode('Sprints until done')]),
    svg('text', { x: 12, y: top + plotH / 2, 'text-anchor': 'middle', class: 'axis-label', transform: `rotate(-90 12 ${top + plotH / 2})` }, [document.createTextNode('Trials')]),
  ]);
}

export function mountForecast(parent, { actions }) {
  const create = h('button', { type: 'button', class: 'btn btn-primary', text: 'Start a forecast' });
  const empty = h('div', { class: 'empty' }, [h('p', { text: 'No forecast yet. It answers “when will these stories be done?” and “how many by sprint K?” from your team’s own throughput.' }), create]);
  const samples = h('input', { type: 'text', id: uid('tp'), maxLength: 300, placeholder: 'e.g. 3, 5, 4, 6' });
  const low = h('input', { type: 'number', min: 0, max: 1000, step: 1, id: uid('lo'), inputMode: 'numeric' });
  const high = h('input', { type: 'number', min: 0, max: 1000, step: 1, id: uid('hi'), inputMode: 'numeric' });
  const items = h('input', { type: 'number', min: 1, max: MAX_ITEMS, step: 1, id: uid('it'), inputMode: 'numeric' });
  const sprints = h('input', { type: 'number', min: 1, max: MAX_SPRINTS, step: 1, id: uid('sp'), inputMode: 'numeric' });
  const useBacklog = h('button', { type: 'button', class: 'btn btn-ghost btn-small' });
  const record = h('button', { type: 'button', class: 'btn btn-secondary btn-small' });
  const reseed = h('button', { type: 'button', class: 'btn btn-ghost btn-small', text: 'New seed' });
  const seedText = h('span', { class: 'forecast-seed' });
  const form = h('div', { class: 'forecast-form' }, [
    h('div', { class: 'field' }, [h('label', { htmlFor: samples.id, text: 'Stories done per past sprint' }), samples, record]),
    h('div', { class: 'field forecast-range' }, [h('span', { class: 'field-label', text: 'or a velocity range' }), h('label', { htmlFor: low.id, text: 'from' }), low, h('label', { htmlFor: high.id, text: 'to' }), high]),
    h('div', { class: 'field' }, [h('label', { htmlFor: items.id, text: 'Stories to finish' }), items, useBacklog]),
    h('div', { class: 'field' }, [h('label', { htmlFor: sprints.id, text: 'Horizon (sprints)' }), sprints]),
    h('p', { class: 'hint' }, [seedText, ' ', reseed]),
  ]);
  const problem = h('p', { class: 'form-error', attrs: { role: 'alert' } });
  const answers = h('p', { class: 'forecast-answer' });
  const table = h('table', { class: 'forecast-table' }, [
    h('caption', { text: 'Forecast at each confidence level' }),
    h('thead', {}, [h('tr', {}, [h('th', { scope: 'col', text: 'Confidence' }), h('th', { scope: 'col', class: 'when-head' }), h('th', { scope: 'col', class: 'many-head' })])]),
    h('tbody'),
  ]);
  const chart = h('figure', { class: 'forecast-figure' });
  const histTable = h('table', { class: 'visually-hidden' }, [h('caption', { text: 'Histogram: trials per number of sprints' }), h('thead', {}, [h('tr', {}, [h('th', { scope: 'col', text: 'Sprints' }), h('th', { scope: 'col', text: 'Trials' })])]), h('tbody')]);
  const capped = h('p', { class: 'hint' });
  const result = h('div', { class: 'forecast-result' }, [answers, table, chart, histTable, capped]);
  const body = h('section', { class: 'forecast card', attrs: { 'aria-label': 'Forecast' } }, [h('h3', { text: 'Forecast' }), form, problem, result]);
  const el = h('div', { class: 'forecast-board' }, [empty, body]);
  parent.append(el);

  let props = null;
  let current = null;
  let lastKey = null;
  let notDone = 0;
  let done = 0;
  const save = (name, value) => current && actions.set(current.id, { [name]: value });
  const int = (v) => (v === '' ? null : Number.parseInt(v, 10));
  bindText(samples, (v) => save('throughput', textOrNull(v)));
  bindText(low, (v) => save('low', int(v)));
  bindText(high, (v) => save('high', int(v)));
  bindText(items, (v) => save('items', int(v)));
  bindText(sprints, (v) => save('sprints', int(v)));
  create.addEventListener('click', () => {
    if (!props) return;
    actions.create('forecast', 'root', appendPos(props.tree), { items: Math.max(1, notDone), sprints: 3, seed: newSeed(), done_seen: done });
  });
  reseed.addEventListener('click', () => save('seed', newSeed()));
  useBacklog.addEventListener('click', () => notDone > 0 && save('items', notDone));
  // One sprint's throughput from the board: stories done since the last record.
  record.addEventListener('click', () => {
    if (!current) return;
    const seen = Number.isInteger(current.obj.fields.done_seen?.value) ? current.obj.fields.done_seen.value : 0;
    const n = Math.max(0, done - seen);
    const text = val(current.obj, 'throughput').trim();
    actions.set(current.id, { throughput: text ? `${text}, ${n}` : String(n), done_seen: done });
  });

  function renderResult(obj) {
    const key = JSON.stringify([obj.fields, notDone]);
    if (key === lastKey) return;
    lastKey = key;
    const { input, error } = inputOf(obj, notDone);
    let f = null;
    let message = error ?? '';
    if (input) {
      try {
        f = runForecast(input);
      } catch (e) {
        message = e.message;
      }
    }
    setText(problem, message);
    show(problem, Boolean(message));
    show(result, f !== null);
    if (!f) return;
    const when = (c) => f.when.find((l) => l.confidence === c).value;
    const many = (c) => f.how_many.find((l) => l.confidence === c).value;
    setText(answers, `With 85 % confidence, the ${f.items} stories are done within ${when(85)} sprints, and at least ${many(85)} stories are done by sprint ${f.sprints}.`);
    setText(table.querySelector('.when-head'), `Sprints to finish ${f.items} stories`);
    setText(table.querySelector('.many-head'), `Stories done by sprint ${f.sprints}`);
    reconcile(table.tBodies[0], CONFIDENCES, (c) => c, () => h('tr', {}, [h('th', { scope: 'row' }), h('td'), h('td')]), (row, c) => {
      setText(row.children[0], `${c} %`);
      setText(row.children[1], String(when(c)));
      setText(row.children[2], String(many(c)));
    });
    chart.replaceChildren(histogram(f), h('figcaption', { text: `Seed ${f.seed} · ${f.trials.toLocaleString('en')} trials. Darker bars: the trials within the 85 % answer.` }));
    reconcile(histTable.tBodies[0], f.histogram, (b) => b.sprints, () => h('tr', {}, [h('td'), h('td')]), (row, b) => {
      setText(row.children[0], String(b.sprints));
      setText(row.children[1], String(b.trials));
    });
    setText(capped, f.capped ? `${f.capped} trials had not finished after ${MAX_SPRINTS} sprints.` : '');
  }

  return {
    el,
    update(next) {
      props = next;
      const { tree, canEdit } = next;
      const stories = childrenOf(tree, undefined, 'backlog_item');
      done = stories.filter((c) => c.obj.fields.status?.value === 'done').length;
      notDone = stories.length - done;
      current = childrenOf(tree, undefined, 'forecast').at(-1) ?? null;
      show(empty, current === null);
      show(create, canEdit);
      show(body, current !== null);
      if (!current) return;
      const obj = current.obj;
      for (const [input, name] of [[samples, 'throughput'], [low, 'low'], [high, 'high'], [items, 'items'], [sprints, 'sprints']]) {
        setValue(input, val(obj, name));
        input.disabled = !canEdit;
      }
      const seen = Number.isInteger(obj.fields.done_seen?.value) ? obj.fields.done_seen.value : 0;
      setText(record, `Record a sprint (${Math.max(0, done - seen)} done since the last record)`);
      setText(useBacklog, `Use the backlog (${notDone} not done)`);
      show(record, canEdit);
      show(useBacklog, canEdit && notDone > 0);
      show(reseed, canEdit);
      setText(seedText, `Seed ${val(obj, 'seed') || '1'}: the same seed gives the same forecast on every screen.`);
      renderResult(obj);
    },
  };
}
