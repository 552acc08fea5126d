// The REST API: create a workshop, join with a code, read a workshop's summary.

import { describeError } from '../lib/messages.js';

/** A failed request, with the server's error code and a human message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(path, { method = 'GET', body, token } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection and try again.');
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // Plain-text answers (503 and framework errors) are reported below.
  }
  if (!response.ok) {
    const code = json?.code ?? (response.status === 503 ? 'unavailable' : 'unknown');
    const message = json?.code ? describeError(code, json.message) : `The server answered ${response.status}${text ? `: ${text.slice(0, 120)}` : ''}.`;
    throw new ApiError(response.status, code, message);
  }
  return json;
}

/** POST /api/workshops → { workshop_id, participant_id, facilitator_token, join_code, join_link, observer_code, observer_link } */
export const createWorkshop = (title, facilitatorName) =>
  request('/api/workshops', { method: 'POST', body: { title, facilitator_name: facilitatorName } });

/** POST /api/join → { workshop_id, participant_id, role, token } */
export const joinWorkshop = (code, name) => request('/api/join', { method: 'POST', body: { code, name } });

/** GET /api/workshops/{id} → the summary with per-room progress. */
export const workshopSummary = (workshopId, token) => request(`/api/workshops/${encodeURIComponent(workshopId)}`, { token });

/** An invite link for a join code, on this server. */
export const inviteLink = (code) => `${location.origin}/#join=${encodeURIComponent(code)}`;
