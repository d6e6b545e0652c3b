// Bounded load test of `hsd serve` with the OpenAI Node.js client. Run through run_with_server.sh
// with the server started as
//   -np 4 -c 1024 --metrics --drafts HSD_SHARED/models/hsd-m0.gguf,HSD_SHARED/models/hsd-m1.gguf,HSD_SHARED/models/hsd-m2.gguf
//
// 64 requests (24 when HSD_SANITIZER_BUILD=1) from 8 concurrent clients (4): prompts from
// HSD_SHARED/prompts (short MT-Bench / GSM8K questions and ~250-370-token HumanEval prompts),
// 8..96 output tokens, greedy and seeded sampling, streamed and not, completions and chat, in
// four decoding modes (autoregressive, a two-level hierarchy, one drafter, a three-level one).
// Checks:
// - every request succeeds;
// - every greedy completion equals `hsd generate --temp 0` with the same prompt, n and levels;
// - every sampled (seeded) request, and every chat request, equals the same request sent
//   alone afterwards;
// - GET /slots shows every slot idle at the end;
// - VmRSS of the server at the end <= after the warm-up wave + a bound (see RSS_SLACK_MIB);
// - a streamed request aborted by the client frees its slot within 10 s.
// It prints a summary (requests, tokens, seconds) and asserts nothing about time.
// HSD_LOAD_REQUESTS / HSD_LOAD_CLIENTS / HSD_LOAD_SEED override the size and the plan's seed.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import OpenAI from "openai";

const { HSD_URL, HSD_BIN, HSD_SHARED, HSD_SERVER_PID } = process.env;
if (!HSD_URL || !HSD_BIN || !HSD_SHARED || !HSD_SERVER_PID) throw new Error("run through tests/server/run_with_server.sh");
const SANITIZER = process.env.HSD_SANITIZER_BUILD === "1";
const N_REQUESTS = Number(process.env.HSD_LOAD_REQUESTS || (SANITIZER ? 24 : 64));
const N_CLIENTS = Number(process.env.HSD_LOAD_CLIENTS || (SANITIZER ? 4 : 8));
const PLAN_SEED = Number(process.env.HSD_LOAD_SEED || 20240611);
const MODELS = path.join(HSD_SHARED, "models");
const TARGET = path.join(MODELS, "hsd-target.gguf");
const N_SLOTS = 4;

// Decoding modes: the request's "speculative" and the CLI's --hierarchy for the same levels.
const MODES = [
  { name: "off", cli: null },
  { name: "hsd-m0:3,hsd-m1:6", cli: `${MODELS}/hsd-m0.gguf:3,${MODELS}/hsd-m1.gguf:6` },
  { name: "hsd-m1:5", cli: `${MODELS}/hsd-m1.gguf:5` },
  { name: "hsd-m0:2,hsd-m1:4,hsd-m2:8", cli: `${MODELS}/hsd-m0.gguf:2,${MODELS}/hsd-m1.gguf:4,${MODELS}/hsd-m2.gguf:8` },
];

// Memory bound. The warm-up runs every mode on every slot (every model and Session kind
// allocated once), then a wave that leaves every slot holding a Session of the heaviest mode;
// the end reading follows the same wave, so both see the same live Sessions (KV caches at
// -c 1024). What may differ: allocator fragmentation from Sessions freed and re-created as slots
// switch modes (each is tens of MiB: RSS readings in other slot states varied by ~50 MiB here),
// HTTP/stream buffers. 64 MiB covers that and still catches a leak of ~1 MiB per request (the
// load has 64). Under ASan freed memory sits in the allocator's quarantine (256 MiB by default)
// before it is reused, so that much more is allowed there.
const RSS_SLACK_MIB = SANITIZER ? 64 + 256 : 64;

const client = new OpenAI({
  baseURL: `${HSD_URL}/v1`,
  apiKey: process.env.HSD_API_KEY || "none",
  maxRetries: 0,
  timeout: (SANITIZER ? 900 : 300) * 1000,
});

// ---- helpers -------------------------------------------------------------------------------
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(PLAN_SEED);
const pick = (arr) => arr[Math.floor(rand() * arr.length)];

function vmRssKiB() {
  const m = fs.readFileSync(`/proc/${HSD_SERVER_PID}/status`, "utf8").match(/^VmRSS:\s+(\d+)\s+kB/m);
  assert.ok(m, "no VmRSS in /proc/PID/status");
  return Number(m[1]);
}

async function getJson(p) {
  const r = await fetch(`${HSD_URL}${p}`, { headers: { Authorization: `Bearer ${process.env.HSD_API_KEY || "none"}` } });
  assert.equal(r.status, 200, `GET ${p}`);
  return r.json();
}

async function tokenCount(text) {
  const r = await fetch(`${HSD_URL}/tokenize`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${process.env.HSD_API_KEY || "none"}` },
    body: JSON.stringify({ content: text, add_special: true }),
  });
  return (await r.json()).tokens.length;
}

// Polls /slots until every slot is idle; returns the seconds it took (throws after limitS).
async function waitIdle(limitS) {
  const t0 = Date.now();
  let slots;
  for (;;) {
    slots = await getJson("/slots");
    if (slots.length === N_SLOTS && slots.every((s) => s.is_processing === false)) return (Date.now() - t0) / 1000;
    if (Date.now() - t0 > limitS * 1000) assert.fail(`slots still busy after ${limitS}s: ${JSON.stringify(slots)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function execCli(args) {
  return new Promise((resolve, reject) => {
    execFile(HSD_BIN, args, { encoding: "utf8", maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`hsd ${args.join(" ")} failed: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

// Runs fns with at most `width` at once; returns their results in order.
async function pool(items, width, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

// ---- prompts ---------------------------------------------------------------------------------
const promptsDir = path.join(HSD_SHARED, "prompts");
const jsonl = (file) => fs.readFileSync(path.join(promptsDir, file), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const humaneval = zlib.gunzipSync(fs.readFileSync(path.join(promptsDir, "HumanEval.jsonl.gz"))).toString("utf8")
  .split("\n").filter(Boolean).map((l) => JSON.parse(l).prompt);
const mtbench = jsonl("mt_bench_question.jsonl").map((q) => q.turns[0]);
const gsm8k = jsonl("gsm8k_test.jsonl").map((q) => q.question);

async function choosePrompts() {
  const short = [];
  for (const p of [...mtbench.slice(0, 12), ...gsm8k.slice(0, 12)]) {
    const n = await tokenCount(p);
    if (n >= 8 && n <= 64) short.push({ text: p, tokens: n });
    if (short.length === 6) break;
  }
  const long = [];
  for (const p of humaneval) {
    const n = await tokenCount(p);
    if (n >= 250 && n <= 400) long.push({ text: p, tokens: n });
    if (long.length === 4) break;
  }
  assert.ok(short.length >= 3 && long.length >= 2, `prompts: ${short.length} short, ${long.length} long`);
  return { short, long };
}

// ---- the plan ----------------------------------------------------------------------------------
function makePlan(prompts, count) {
  const plan = [];
  for (let i = 0; i < count; i++) {
    // Every mode gets greedy and sampled, streamed and not, short and long prompts.
    const mode = MODES[i % MODES.length];
    const k = Math.floor(i / MODES.length);
    const sampled = k % 2 === 1;
    const stream = Math.floor(k / 2) % 2 === 1;
    const long = (i + Math.floor(k / 4)) % 2 === 1;
    const chat = i % 8 === 5 || i % 16 === 2;  // some chat requests, greedy and sampled (checked against a replay alone)
    const prompt = pick(long ? prompts.long : prompts.short);
    const n = 8 + Math.floor(rand() * 89);  // 8..96
    const req = {
      i, mode: mode.name, modeCli: mode.cli, chat, stream, sampled, n, prompt: prompt.text, promptTokens: prompt.tokens,
      ignoreEos: rand() < 0.5,
      params: { model: "hsd-target", max_tokens: n, speculative: mode.name },
    };
    if (sampled) Object.assign(req.params, { temperature: 0.8, seed: 1000 + i });
    else req.params.temperature = 0;
    if (req.ignoreEos) req.params.ignore_eos = true;
    plan.push(req);
  }
  return plan;
}

// One request through the client; returns { text, finish, usage }.
async function send(req, { stream = req.stream } = {}) {
  const p = { ...req.params };
  if (req.chat) p.messages = [{ role: "user", content: req.prompt }];
  else p.prompt = req.prompt;
  const api = req.chat ? client.chat.completions : client.completions;
  if (!stream) {
    const r = await api.create(p);
    const c = r.choices[0];
    return { text: req.chat ? c.message.content : c.text, finish: c.finish_reason, usage: r.usage };
  }
  const s = await api.create({ ...p, stream: true, stream_options: { include_usage: true } });
  let text = "";
  let finish = null;
  let usage = null;
  let finishes = 0;
  for await (const ch of s) {
    if (ch.usage) usage = ch.usage;
    const c = ch.choices[0];
    if (!c) continue;
    text += (req.chat ? c.delta?.content : c.text) ?? "";
    if (c.finish_reason) {
      finish = c.finish_reason;
      finishes++;
    }
  }
  assert.equal(finishes, 1, `request ${req.i}: ${finishes} chunks with finish_reason`);
  assert.ok(usage, `request ${req.i}: no usage chunk`);
  return { text, finish, usage };
}

function checkShape(req, r) {
  const what = `request ${req.i} (${req.mode}, ${req.chat ? "chat" : "completion"}, n ${req.n})`;
  assert.ok(["stop", "length"].includes(r.finish), `${what}: finish_reason ${r.finish}`);
  assert.ok(r.usage.completion_tokens <= req.n, `${what}: ${r.usage.completion_tokens} tokens > ${req.n}`);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens, what);
  if (req.ignoreEos && !req.chat) assert.equal(r.usage.completion_tokens, req.n, `${what}: ignore_eos`);
  if (!req.chat) assert.equal(r.usage.prompt_tokens, req.promptTokens, what);
}

// ---- main ------------------------------------------------------------------------------------
const failures = [];
const t0 = Date.now();
const prompts = await choosePrompts();
console.log(`load: ${N_REQUESTS} requests, ${N_CLIENTS} clients, ${MODES.length} modes (${MODES.map((m) => m.name).join(" | ")}); ` +
  `prompts ${prompts.short.map((p) => p.tokens).join("/")} and ${prompts.long.map((p) => p.tokens).join("/")} tokens; plan seed ${PLAN_SEED}`);

// 1. Warm-up wave: every slot runs every mode once (all slots busy at once), long prompts.
const warm = [];
for (let w = 0; w < MODES.length; w++)
  for (let s = 0; s < N_SLOTS; s++)
    warm.push({ i: -1, mode: MODES[(w + s) % MODES.length].name, chat: false, stream: s % 2 === 1, n: 32, ignoreEos: true,
      prompt: prompts.long[s % prompts.long.length].text, promptTokens: prompts.long[s % prompts.long.length].tokens,
      params: { max_tokens: 32, temperature: 0, ignore_eos: true, speculative: MODES[(w + s) % MODES.length].name } });
for (let w = 0; w < MODES.length; w++)
  await Promise.all(warm.slice(w * N_SLOTS, (w + 1) * N_SLOTS).map((r) => send(r).then((x) => checkShape(r, x))));
// Both memory readings are taken in the same state: right after a wave that put every slot on
// the mode with the most levels (a slot keeps the Session of its last mode, KV caches included).
const HEAVIEST = MODES[MODES.length - 1].name;
async function stateWave() {
  const wave = Array.from({ length: N_SLOTS }, (_, s) => ({ ...warm[s], mode: HEAVIEST, stream: false,
    params: { ...warm[s].params, speculative: HEAVIEST } }));
  await Promise.all(wave.map((r) => send(r).then((x) => checkShape(r, x))));
  await waitIdle(10);
}
await stateWave();
const rssWarm = vmRssKiB();

// 2. The load.
const plan = makePlan(prompts, N_REQUESTS);
const tLoad = Date.now();
const results = await pool(plan, N_CLIENTS, async (req) => {
  try {
    const r = await send(req);
    checkShape(req, r);
    return r;
  } catch (e) {
    failures.push(`request ${req.i} (${req.mode}): ${e.message}`);
    return null;
  }
});
const loadSeconds = (Date.now() - tLoad) / 1000;
const tokens = results.reduce((a, r) => a + (r ? r.usage.completion_tokens : 0), 0);
const promptTokens = results.reduce((a, r) => a + (r ? r.usage.prompt_tokens : 0), 0);
// Right after the last answer a slot may still be finishing its bookkeeping: allow 2 s.
const idleAfterLoad = await waitIdle(2);

// 3. Greedy completions vs the CLI (once per distinct prompt, n, levels, ignore_eos), two at a time.
const greedy = plan.filter((r) => !r.sampled && !r.chat);
const refs = new Map();
for (const r of greedy) {
  const args = ["generate", "-m", TARGET, "-p", r.prompt, "-n", String(r.n), "--temp", "0", "--json"];
  if (r.modeCli) args.push("--hierarchy", r.modeCli);
  if (r.ignoreEos) args.push("--ignore-eos");
  r.cliKey = JSON.stringify(args);
  if (!refs.has(r.cliKey)) refs.set(r.cliKey, args);
}
const tCli = Date.now();
const cliOut = new Map();
await pool([...refs.entries()], 2, async ([key, args]) => cliOut.set(key, await execCli(args)));
const cliSeconds = (Date.now() - tCli) / 1000;
for (const r of greedy) {
  const got = results[r.i];
  if (got && got.text !== cliOut.get(r.cliKey).text)
    failures.push(`greedy request ${r.i} (${r.mode}, n ${r.n}, stream ${r.stream}): server ${JSON.stringify(got.text)} != CLI ${JSON.stringify(cliOut.get(r.cliKey).text)}`);
}

// 4. Sampled and chat requests vs the same request alone (non-streamed; streaming does not change the text).
const replayed = plan.filter((r) => r.sampled || r.chat);
for (const r of replayed) {
  const got = results[r.i];
  if (!got) continue;
  const alone = await send(r, { stream: false });
  if (alone.text !== got.text)
    failures.push(`${r.sampled ? "sampled" : "greedy chat"} request ${r.i} (${r.mode}, seed ${r.params.seed}, stream ${r.stream}): under load ${JSON.stringify(got.text)} != alone ${JSON.stringify(alone.text)}`);
}

// 5. Cancellation: a long streamed request aborted after a few chunks frees its slot.
const tCancel = Date.now();
const s = await client.completions.create({
  prompt: prompts.short[0].text, max_tokens: 800, temperature: 0, ignore_eos: true, stream: true,
});
let chunks = 0;
try {
  for await (const ch of s) {
    void ch;
    if (++chunks === 5) s.controller.abort();
  }
} catch (e) {
  if (!(e instanceof OpenAI.APIUserAbortError) && e.name !== "AbortError") throw e;
}
assert.ok(chunks >= 5, `only ${chunks} chunks before the stream ended`);
const busySeen = (await getJson("/slots")).some((x) => x.is_processing);
const idleAfterCancel = await waitIdle(10);
const metricsText = await (await fetch(`${HSD_URL}/metrics`)).text();
const cancelled = Number((metricsText.match(/^hsd:requests_total\{outcome="cancelled"\} (\d+)/m) || [])[1] ?? NaN);
assert.ok(cancelled >= 1, `hsd:requests_total{outcome="cancelled"} is ${cancelled} after an aborted stream`);
const cancelSeconds = (Date.now() - tCancel) / 1000;
// Still serving, same answers.
{
  const r = greedy[0];
  const again = await send(r, { stream: false });
  assert.equal(again.text, cliOut.get(r.cliKey).text, "a greedy request after the cancellation");
}

// 6. Memory.
await stateWave();
const rssEnd = vmRssKiB();
const growthMiB = (rssEnd - rssWarm) / 1024;

const summary = {
  requests: N_REQUESTS, clients: N_CLIENTS, ok: results.filter(Boolean).length,
  completion_tokens: tokens, prompt_tokens: promptTokens,
  load_seconds: +loadSeconds.toFixed(2), tokens_per_second: +(tokens / loadSeconds).toFixed(1),
  greedy_checked_vs_cli: greedy.length, cli_runs: refs.size, cli_seconds: +cliSeconds.toFixed(2),
  replayed_alone: replayed.length,
  idle_after_load_s: +idleAfterLoad.toFixed(2),
  cancel: { chunks, busy_after_abort: busySeen, idle_after_s: +idleAfterCancel.toFixed(2), seconds: +cancelSeconds.toFixed(2) },
  rss_mib: { warm: +(rssWarm / 1024).toFixed(1), end: +(rssEnd / 1024).toFixed(1), growth: +growthMiB.toFixed(1), bound: RSS_SLACK_MIB },
  total_seconds: +((Date.now() - t0) / 1000).toFixed(1),
};
console.log("load summary: " + JSON.stringify(summary));
if (growthMiB > RSS_SLACK_MIB)
  failures.push(`server VmRSS grew by ${growthMiB.toFixed(1)} MiB after the warm-up (${(rssWarm / 1024).toFixed(1)} -> ${(rssEnd / 1024).toFixed(1)} MiB), over the ${RSS_SLACK_MIB} MiB bound`);
if (failures.length) {
  for (const f of failures) console.error("FAIL: " + f);
  console.error(`load: ${failures.length} failure(s)`);
  process.exit(1);
}
console.log("load: all checks passed");
