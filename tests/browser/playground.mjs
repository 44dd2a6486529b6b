// Browser test of the playground: starts `downhill serve` on a free local port, drives the page in
// headless Chromium, clicks a start point, runs two optimizers, and checks that the trajectories
// and the loss chart are drawn and that the numbers on the page equal the API's.
//
// Usage: node tests/browser/playground.mjs <path to downhill binary> <screenshot.png>
import { spawn } from "node:child_process";
import { chromium } from "playwright-core";

const [bin, shot] = process.argv.slice(2);
const fail = (msg) => { console.error("FAIL: " + msg); process.exitCode = 1; throw new Error(msg); };

const server = spawn(bin, ["serve", "--port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
const url = await new Promise((resolve, reject) => {
  let out = "";
  server.stdout.on("data", (d) => { out += d; const m = /http:\/\/[0-9.:]+\//.exec(out); if (m) resolve(m[0]); });
  server.on("exit", (c) => reject(new Error("server exited " + c)));
  setTimeout(() => reject(new Error("server did not start")), 10000);
});
console.log("server at " + url);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  // The default preset (seed figure 1) loads and runs three optimizers.
  await page.waitForFunction(() => document.querySelectorAll("#legend tbody tr").length === 3, null, { timeout: 15000 });

  // Two optimizers on 50x^2 + y^2, then a click on the map sets the start point.
  await page.selectOption("#preset", "fig2");
  await page.waitForFunction(() => document.querySelectorAll("#legend tbody tr").length === 3);
  await page.evaluate(() => {
    document.querySelectorAll("#opts .opt")[2].querySelector(".rm").click();
  });
  await page.waitForFunction(() => document.querySelectorAll("#legend tbody tr").length === 2);
  const box = await page.locator("#map").boundingBox();
  await page.mouse.click(box.x + box.width * 0.8, box.y + box.height * 0.25);
  await page.waitForFunction((s) => document.querySelector("#start").value !== s, "1, 1");
  const start = (await page.inputValue("#start")).split(",").map(Number);
  if (!(start[0] > 0 && start[1] > 0)) fail("click did not set a start in the upper right: " + start);
  // Let the animation finish.
  await page.click("#speed");
  await page.evaluate(() => { document.querySelector("#speed").value = 6; document.querySelector("#speed").dispatchEvent(new Event("input")); });
  await page.waitForFunction(() => /step (\d+) of \1$/.test(document.querySelector("#status").textContent), null, { timeout: 20000 });

  // The numbers on the page are the API's for the same request.
  const request = await page.evaluate(() => state.lastRequest);
  if (request.optimizers.length !== 2) fail("expected two optimizers, got " + request.optimizers);
  const api = await (await fetch(url + "api/run", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(request) })).json();
  const shown = await page.$$eval("#legend tbody tr", (rows) => rows.map((r) => Number(r.dataset.finalLoss)));
  api.runs.forEach((r, i) => { if (r.loss !== shown[i]) fail(`final loss ${i}: page ${shown[i]} vs API ${r.loss}`); });
  const texts = await page.$$eval("#legend tbody td.final", (tds) => tds.map((t) => t.textContent));
  console.log("final losses shown:", texts.join(", "), "API:", api.runs.map((r) => r.loss).join(", "));

  // Trajectories: pixels of both optimizer colours on the map; the loss chart has both curves.
  const counts = await page.evaluate(() => {
    const count = (id, hex) => {
      const c = document.getElementById(id), d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      const [r, g, b] = [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - r) < 8 && Math.abs(d[i + 1] - g) < 8 && Math.abs(d[i + 2] - b) < 8) n++;
      return n;
    };
    return { map: COLORS.slice(0, 2).map((c) => count("map", c)), loss: COLORS.slice(0, 2).map((c) => count("loss", c)) };
  });
  console.log("pixels per colour:", JSON.stringify(counts));
  if (counts.map.some((n) => n < 50)) fail("a trajectory is missing from the map: " + JSON.stringify(counts.map));
  if (counts.loss.some((n) => n < 50)) fail("a curve is missing from the loss chart: " + JSON.stringify(counts.loss));
  const analysis = await page.textContent("#analysis");
  if (!/condition number/.test(analysis)) fail("analysis panel empty: " + analysis);
  if (!(await page.evaluate(() => location.hash.length > 10))) fail("state not in the URL");
  if (errors.length) fail("page errors: " + errors.join("; "));
  await page.screenshot({ path: shot, fullPage: false });
  console.log("screenshot: " + shot);
  console.log("PASS");
} finally {
  await browser.close();
  server.kill();
}
