// Bounded load test of `downhill serve` on 127.0.0.1: typical /api/run requests from concurrent
// local clients, with oversized requests mixed in, reporting requests per second and latency
// percentiles, and checking that every oversized request is refused while the others succeed.
//
// Then a second server with a 2 s time budget gets a burst of requests that each need far more
// than the budget: it must answer a cheap request within 1 s throughout, answer every heavy one
// 503 (refused at once when the queue is full, or stopped at the budget), and be idle (CPU)
// within 2 s of the last answer, since stopped requests stop computing.
//
// Usage: node tests/browser/load.mjs <path to downhill binary> [requests=2000] [concurrency=16]
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

const [bin, total = "2000", conc = "16"] = process.argv.slice(2);
function serve(extra = []) {
  const proc = spawn(bin, ["serve", "--port", "0", ...extra], { stdio: ["ignore", "pipe", "inherit"] });
  const started = new Promise((resolve, reject) => {
    let out = "";
    proc.stdout.on("data", (d) => { out += d; const m = /http:\/\/[0-9.:]+\//.exec(out); if (m) resolve(m[0]); });
    setTimeout(() => reject(new Error("server did not start")), 10000);
  });
  return [proc, started];
}
const [server, started] = serve();
const url = await started;
const typical = JSON.stringify({ objective: "rosenbrock:a=1,b=10", optimizers: ["gd:lr=0.005", "momentum:lr=0.002", "adam:lr=0.1"], start: [-1.5, 2.5], steps: 200 });
const tooManySteps = JSON.stringify({ objective: "rosenbrock", optimizer: "adam", steps: 10_000_000 });
const tooBig = JSON.stringify({ objective: "rosenbrock", optimizer: "adam", pad: "x".repeat(200_000) });
const latencies = [];
let ok = 0, refused = 0, wrong = 0, next = 0;
const n = Number(total);
async function worker() {
  while (next < n) {
    const i = next++;
    const kind = i % 20 === 7 ? "steps" : i % 20 === 13 ? "big" : "typical";
    const body = kind === "typical" ? typical : kind === "steps" ? tooManySteps : tooBig;
    const t0 = performance.now();
    const r = await fetch(url + "api/run", { method: "POST", headers: { "content-type": "application/json" }, body });
    await r.arrayBuffer();
    const dt = performance.now() - t0;
    if (kind === "typical") { latencies.push(dt); r.status === 200 ? ok++ : wrong++; }
    else if ((kind === "steps" && r.status === 400) || (kind === "big" && r.status === 413)) refused++;
    else wrong++;
  }
}
const t0 = performance.now();
await Promise.all(Array.from({ length: Number(conc) }, worker));
const secs = (performance.now() - t0) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(2);
console.log(JSON.stringify({ requests: n, concurrency: Number(conc), seconds: Number(secs.toFixed(2)), requests_per_s: Math.round(n / secs),
  typical_ok: ok, oversized_refused: refused, unexpected: wrong, p50_ms: Number(pct(0.5)), p99_ms: Number(pct(0.99)), max_ms: Number(pct(1)) }));
server.kill();
if (wrong) { console.error("FAIL: unexpected statuses"); process.exit(1); }

// At the budget.
const [busy, busyStarted] = serve(["--time-budget", "2"]);
const busyUrl = await busyStarted;
// CPU seconds the server has used, from /proc (Linux; utime + stime in clock ticks of 1/100 s).
const cpu = () => { const f = readFileSync(`/proc/${busy.pid}/stat`, "utf8").split(") ")[1].split(" "); return (Number(f[11]) + Number(f[12])) / 100; };
// x^1.0001 + ... + x^1.6000 (54 KB) x 40,000 steps: about a millisecond a step, some 40 s each.
const powers = Array.from({ length: 6000 }, (_, k) => `x^1.${String(k + 1).padStart(4, "0")}`).join("+");
const heavy = JSON.stringify({ expr: powers, optimizer: "gd:lr=1e-9", start: [0.5], steps: 40000 });
const burst = 40;
const statuses = {};
let heavyDone = 0, lastAnswer = 0, cheapMax = 0, cheapCount = 0, cheapWrong = 0;
const heavyRuns = Array.from({ length: burst }, async () => {
  const r = await fetch(busyUrl + "api/run", { method: "POST", headers: { "content-type": "application/json" }, body: heavy });
  const v = await r.json();
  const key = `${r.status} ${String(v.error).split(":")[0]}`;
  statuses[key] = (statuses[key] || 0) + 1;
  heavyDone++;
  lastAnswer = performance.now();
});
while (heavyDone < burst) {
  const t = performance.now();
  const r = await fetch(busyUrl + "api/schedule?spec=cosine:max=1,total=1000&steps=1000");
  await r.arrayBuffer();
  cheapMax = Math.max(cheapMax, performance.now() - t);
  cheapCount++;
  if (r.status !== 200) cheapWrong++;
  await new Promise((res) => setTimeout(res, 100));
}
await Promise.all(heavyRuns);
await new Promise((res) => setTimeout(res, 2000 - (performance.now() - lastAnswer)));
const c0 = cpu();
await new Promise((res) => setTimeout(res, 1000));
const idleCpu = cpu() - c0;
busy.kill();
console.log(JSON.stringify({ budget_burst: burst, heavy_answers: statuses, cheap_requests: cheapCount, cheap_max_ms: Number(cheapMax.toFixed(1)),
  cpu_s_in_the_second_after_2s_idle: idleCpu }));
const heavyOk = Object.keys(statuses).every((k) => k === "503 busy" || k === "503 time");
if (!heavyOk || cheapWrong || cheapMax >= 1000 || idleCpu >= 0.1) {
  console.error("FAIL: at the budget the server must answer 503 to heavy requests, a cheap one within 1 s, and be idle within 2 s");
  process.exit(1);
}
