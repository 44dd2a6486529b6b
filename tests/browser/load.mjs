// Bounded load test of `downhill serve` on 127.0.0.1: typical /api/run requests from concurrent
// local clients, with oversized requests mixed in, reporting requests per second and latency
// percentiles, and checking that every oversized request is refused while the others succeed.
//
// Usage: node tests/browser/load.mjs <path to downhill binary> [requests=2000] [concurrency=16]
import { spawn } from "node:child_process";

const [bin, total = "2000", conc = "16"] = process.argv.slice(2);
const server = spawn(bin, ["serve", "--port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
const url = await new Promise((resolve, reject) => {
  let out = "";
  server.stdout.on("data", (d) => { out += d; const m = /http:\/\/[0-9.:]+\//.exec(out); if (m) resolve(m[0]); });
  setTimeout(() => reject(new Error("server did not start")), 10000);
});
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
