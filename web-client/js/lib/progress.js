// How far a team is, in words, from the REST summary's per-room `progress`.

/** "vision 4/5 sections, 9 stories, 3 with acceptance criteria, 1 experiment, 2 feedback" */
export function progressText(p) {
  if (!p) return 'No data yet';
  const parts = [];
  if (p.vision_sections > 0) parts.push(`vision ${p.vision_sections_filled}/${p.vision_sections} sections`);
  parts.push(`${p.stories} ${p.stories === 1 ? 'story' : 'stories'}`);
  if (p.stories > 0) parts.push(`${p.stories_with_criteria} with acceptance criteria`);
  if (p.experiments > 0) parts.push(`${p.experiments} experiment${p.experiments === 1 ? '' : 's'}`);
  if (p.feedback > 0) parts.push(`${p.feedback} feedback`);
  return parts.join(', ');
}
