// The web client's forecast (web-client/js/lib/forecast.js): median time of one 10,000-trial
// forecast of a 50-item backlog, as a browser tab runs it when a member edits the inputs.
// Run: node tests/bench/forecast-js.mjs
import { runForecast } from '../../web-client/js/lib/forecast.js';

const cases = {
  samples: { throughput: { samples: [3, 5, 4, 6, 2, 5] }, items: 50, sprints: 10, trials: 10_000, seed: 42 },
  range: { throughput: { range: { low: 2, high: 6 } }, items: 50, sprints: 10, trials: 10_000, seed: 42 },
};
for (const [name, input] of Object.entries(cases)) {
  for (let i = 0; i < 20; i += 1) runForecast(input); // warm up the JIT
  const times = [];
  for (let i = 0; i < 101; i += 1) {
    const start = process.hrtime.bigint();
    runForecast(input);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  console.log(`${name}: median ${times[50].toFixed(2)} ms, p90 ${times[90].toFixed(2)} ms (101 runs)`);
}
