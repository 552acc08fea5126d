// Human messages for every error code (protocol/src/error.rs) and WebSocket close code.
// A unit test reads error.rs and fails when a code has no message here.

/** One sentence a participant can act on, per error code. */
export const ERROR_MESSAGES = {
  malformed: 'The app sent a message the server could not read. Reload the page; if it happens again, tell the facilitator.',
  unknown_message: 'The app and the server do not understand each other. Reload the page to get the current version.',
  binary_not_supported: 'The app sent data in a form the server does not accept. Reload the page.',
  unsupported_protocol: 'This page is out of date for the server. Reload the page to get the current version.',
  hello_required: 'The connection was not set up in time. Reconnecting…',
  already_hello: 'The connection was set up twice. Nothing was lost.',
  unauthorized: 'Your access to this workshop is no longer valid. Join again with the link or code.',
  forbidden: 'You are not allowed to do that here.',
  not_in_room: 'You are no longer in that room, so the change could not be saved.',
  unknown_room: 'That room does not exist any more.',
  unknown_participant: 'That person is no longer in the workshop.',
  rate_limited: 'Too many changes at once. Slowing down and retrying…',
  invalid_op: 'The app produced an invalid change. It was undone.',
  unknown_type: 'The server does not know this kind of card. The change was undone.',
  unknown_field: 'The server does not know this field. The change was undone.',
  invalid_value: 'That value is not allowed here.',
  too_long: 'That text is too long.',
  invalid_parent: 'The card it belongs to is gone, so it could not be added.',
  invalid_position: 'The new position could not be saved. Try moving it again.',
  unknown_object: 'That card does not exist (any more).',
  deleted: 'Someone deleted this card (or the card it belongs to) in the meantime.',
  already_exists: 'That card already exists.',
  too_many_objects: 'This room is full (10,000 cards). Delete some cards first.',
  over_budget: 'You have no dots left to place. Take one back from another topic first.',
  invalid_command: 'That request is not valid.',
  conflict: 'That does not fit the current state of the workshop. The screen now shows the latest state.',
  unavailable: 'The server cannot save right now. Your change is kept and will be retried.',
  outcome_unknown: 'The server is checking whether your change was saved. It is kept and will be sent again.',
  not_found: 'No workshop has this code. Check the code or ask the facilitator for the link.',
};

/** A message for `code`, with the server's own explanation appended when it adds detail. */
export function describeError(code, serverMessage) {
  const base = ERROR_MESSAGES[code] ?? `Something went wrong (${code ?? 'unknown error'}).`;
  const detailed = new Set(['invalid_value', 'too_long', 'invalid_command', 'forbidden', 'conflict']);
  if (serverMessage && detailed.has(code)) return `${base} (${serverMessage})`;
  return base;
}

/**
 * What to do after a close code: `reconnect` is 'backoff', 'soon' (at once, small jitter),
 * 'retry_ms' (after the server's reconnect hint) or false (stop: retrying cannot help).
 */
export const CLOSE_CODES = {
  1000: { reconnect: 'backoff', message: 'The connection was closed. Reconnecting…' },
  1001: { reconnect: 'backoff', message: 'The server went away. Reconnecting…' },
  1002: { reconnect: 'backoff', message: 'The connection broke a protocol rule. Reconnecting after a pause…' },
  1006: { reconnect: 'backoff', message: 'The connection was lost. Reconnecting…' },
  1007: { reconnect: 'backoff', message: 'The server could not read a message from this page. Reconnecting after a pause…' },
  1009: { reconnect: 'backoff', message: 'A change was too large to send and was dropped. Reconnecting…' },
  1011: { reconnect: 'backoff', message: 'The server hit a problem. Reconnecting…' },
  1012: { reconnect: 'retry_ms', message: 'The server is restarting. Reconnecting in a moment…' },
  4001: { reconnect: 'soon', message: 'The connection was not set up in time. Reconnecting…' },
  4002: { reconnect: false, message: 'Your access to this workshop is no longer valid (expired or unknown). Join again with the link or code.' },
  4003: { reconnect: false, message: 'The facilitator removed you from this workshop.' },
  4004: { reconnect: 'soon', message: 'Your connection fell behind. Catching up…' },
  4005: { reconnect: 'backoff', message: 'Too many messages were sent. Reconnecting after a pause…' },
  4006: { reconnect: false, message: 'This page is out of date for the server. Reload the page.' },
  4007: { reconnect: 'backoff', message: 'The server stopped hearing from this page. Reconnecting…' },
  4008: { reconnect: false, message: 'The app and the server disagree about the protocol. Reload the page.' },
};

/** The close code's entry; unknown codes reconnect with backoff. */
export function describeClose(code) {
  return CLOSE_CODES[code] ?? { reconnect: 'backoff', message: `The connection closed (code ${code}). Reconnecting…` };
}

/** Labels for enum values and roles shown in the UI. */
export const LABELS = {
  new: 'New',
  ready: 'Ready',
  in_progress: 'In progress',
  done: 'Done',
  persevere: 'Persevere',
  pivot: 'Pivot',
  retire: 'Retire',
  keep_testing: 'Keep testing',
  facilitator: 'Facilitator',
  attendee: 'Attendee',
  observer: 'Observer',
  vision: 'Vision',
  target_group: 'Target Group',
  needs: 'Needs',
  product: 'Product',
  business_goals: 'Business Goals',
  vision_board: 'Product Vision Board',
  backlog: 'Product Backlog',
  experiment: 'Experiment',
  lean_coffee: 'Lean Coffee',
};

export const label = (value) => LABELS[value] ?? value;
