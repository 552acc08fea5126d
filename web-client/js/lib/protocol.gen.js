// Generated from the protocol crate by protocol/tests/client_constants.rs: do not edit.
// UPDATE_GENERATED=1 cargo test -p plenary-protocol --test client_constants writes it again.
// The names and values are those of protocol/src (schema.rs, estimate.rs, forecast.rs,
// doc.rs); see the doc comments there for what each one bounds.

/** The parent id of top-level objects. */
export const ROOT = "root";
/** The wire protocol version a hello states. */
export const PROTOCOL_VERSION = 3;
/** The document model version. */
export const MODEL_VERSION = 2;
/** Longest title-like field, in characters. */
export const MAX_TITLE_CHARS = 300;
/** Longest free-text field, in characters. */
export const MAX_TEXT_CHARS = 10000;
/** Longest short label, in characters. */
export const MAX_LABEL_CHARS = 100;
/** Most characters ever inserted into one mergeable text field. */
export const MAX_TEXT_HISTORY = 200000;
/** Most characters ever inserted into a room's mergeable text. */
export const MAX_ROOM_TEXT_HISTORY = 1000000;
/** Most live objects in one room. */
export const MAX_OBJECTS = 10000;
/** Longest object or op id. */
export const MAX_ID_CHARS = 64;
/** Longest position key the server accepts. */
export const MAX_POS_CHARS = 1024;
/** Dots each member may spread over a room's Lean Coffee topics. */
export const LEAN_COFFEE_DOTS = 3;
/** Largest value-scoring budget. */
export const MAX_BUDGET = 10000;
/** The five sections of a Product Vision Board. */
export const VISION_SECTIONS = ["vision","target_group","needs","product","business_goals"];
/** A backlog item's estimates. */
export const ESTIMATES = ["1","2","3","5","8","13","21","?","XS","S","M","L","XL"];
/** A backlog item's statuses. */
export const ITEM_STATUSES = ["new","ready","in_progress","done"];
/** An experiment's decisions. */
export const DECISIONS = ["persevere","pivot","retire","keep_testing"];
/** A Lean Coffee topic's columns. */
export const LEAN_COFFEE_COLUMNS = ["to_discuss","discussing","discussed"];
/** What an estimation card can say. */
export const CARDS = ["1","2","3","5","8","13","21","?","coffee","XS","S","M","L","XL"];
/** Estimation scales. */
export const SCALES = ["fibonacci","tshirt"];
/** Fields fixed once a member has sealed an entry. */
export const FIXED_ONCE_SEALED = ["scale","budget"];
/** The Fibonacci scale's cards. */
export const FIBONACCI = ["1","2","3","5","8","13","21","?","coffee"];
/** The T-shirt scale's cards. */
export const TSHIRT = ["XS","S","M","L","XL","?","coffee"];
/** Cards that are not a size. */
export const NOT_A_SIZE = ["?","coffee"];
/** Points each member spreads in a value-scoring round unless it says otherwise. */
export const DEFAULT_BUDGET = 100;
/** Most items one allocation may name. */
export const MAX_ALLOCATION_ITEMS = 100;
/** The confidence levels (in percent) at which a forecast is read. */
export const CONFIDENCES = [50,70,85,95];
/** Trials a caller should run when it has no reason to choose. */
export const DEFAULT_TRIALS = 10000;
/** Most trials one forecast may run. */
export const MAX_TRIALS = 100000;
/** Sprints after which an unfinished trial stops and counts as capped. */
export const MAX_SPRINTS = 200;
/** Most throughput samples a forecast accepts. */
export const MAX_SAMPLES = 50;
/** Largest throughput of one sprint, in items. */
export const MAX_SAMPLE = 1000;
/** Largest backlog a forecast accepts, in items. */
export const MAX_ITEMS = 10000;

/** Every object type: the types it may live under and its fields, in schema.rs order. */
export const SCHEMAS = {
  vision_section: {
    parents: ["root"],
    fields: {
      section: {"kind":"enum","values":["vision","target_group","needs","product","business_goals"]},
      title: {"kind":"text","max":300},
    },
  },
  vision_note: {
    parents: ["vision_section"],
    fields: {
      text: {"kind":"prose","max":10000},
      author: {"kind":"text","max":100},
    },
  },
  backlog_item: {
    parents: ["root"],
    fields: {
      title: {"kind":"text","max":300},
      role: {"kind":"text","max":300},
      goal: {"kind":"prose","max":10000},
      benefit: {"kind":"prose","max":10000},
      estimate: {"kind":"enum","values":["1","2","3","5","8","13","21","?","XS","S","M","L","XL"]},
      value: {"kind":"int","max":1000000,"min":0},
      status: {"kind":"enum","values":["new","ready","in_progress","done"]},
      tag: {"kind":"text","max":100},
      link: {"kind":"text","max":300},
    },
  },
  acceptance_criterion: {
    parents: ["backlog_item"],
    fields: {
      given: {"kind":"prose","max":10000},
      when: {"kind":"prose","max":10000},
      then: {"kind":"prose","max":10000},
      and: {"kind":"prose","max":10000},
      met: {"kind":"bool"},
    },
  },
  experiment: {
    parents: ["root"],
    fields: {
      hypothesis: {"kind":"prose","max":10000},
      test: {"kind":"prose","max":10000},
      metric: {"kind":"prose","max":10000},
      criterion: {"kind":"prose","max":10000},
      deadline: {"kind":"text","max":100},
      owner: {"kind":"text","max":100},
      observation: {"kind":"prose","max":10000},
      learning: {"kind":"prose","max":10000},
      decision: {"kind":"enum","values":["persevere","pivot","retire","keep_testing"]},
    },
  },
  lean_coffee_topic: {
    parents: ["root"],
    fields: {
      title: {"kind":"text","max":300},
      author: {"kind":"text","max":100},
      votes: {"budget":3,"kind":"tally","max":3},
      column: {"kind":"enum","values":["to_discuss","discussing","discussed"]},
      notes: {"kind":"prose","max":10000},
    },
  },
  estimation_round: {
    parents: ["backlog_item"],
    fields: {
      scale: {"kind":"enum","values":["fibonacci","tshirt"]},
      votes: {"inner":{"kind":"enum","values":["1","2","3","5","8","13","21","?","coffee","XS","S","M","L","XL"]},"kind":"sealed"},
      auto_reveal: {"kind":"bool"},
      accepted: {"kind":"enum","values":["1","2","3","5","8","13","21","?","XS","S","M","L","XL"]},
    },
  },
  value_round: {
    parents: ["root"],
    fields: {
      title: {"kind":"text","max":300},
      budget: {"kind":"int","max":10000,"min":1},
      points: {"inner":{"kind":"allocation"},"kind":"sealed"},
      auto_reveal: {"kind":"bool"},
    },
  },
  forecast: {
    parents: ["root"],
    fields: {
      throughput: {"kind":"samples"},
      low: {"kind":"int","max":1000,"min":0},
      high: {"kind":"int","max":1000,"min":0},
      items: {"kind":"int","max":10000,"min":1},
      sprints: {"kind":"int","max":200,"min":1},
      seed: {"kind":"int","max":4294967295,"min":0},
      done_seen: {"kind":"int","max":10000,"min":0},
    },
  },
  feedback: {
    parents: ["root","backlog_item"],
    fields: {
      text: {"kind":"text","max":10000},
      author: {"kind":"text","max":100},
    },
  },
};
