// The workshop view a connection holds: the welcome's, with every `workshop_patch` applied
// (docs/PROTOCOL.md sections 7.7 and 9). A pure function, held to the server's
// `WorkshopView::apply` by the shared vectors in protocol/tests/vectors/workshop_patch.json.

/** Fields a patch replaces whole when present (`null` included). */
const FIELDS = ['title', 'rooms', 'breakouts_open', 'allow_choice', 'exercise', 'timer', 'stage', 'help', 'team_sizes'];

/** The view after `patch`, as a new object (`view` is left as it was). */
export function applyWorkshopPatch(view, patch) {
  const next = { ...view };
  for (const field of FIELDS) {
    if (Object.hasOwn(patch, field)) next[field] = patch[field];
  }
  const gone = new Set(patch.gone ?? []);
  const people = (view.participants ?? []).filter((p) => !gone.has(p.id));
  const at = new Map(people.map((p, i) => [p.id, i]));
  for (const p of patch.participants ?? []) {
    if (at.has(p.id)) {
      people[at.get(p.id)] = p;
    } else {
      at.set(p.id, people.length);
      people.push(p);
    }
  }
  next.participants = people;
  return next;
}
