// `hsd serve` driven by the official OpenAI Node.js client (npm "openai"), over loopback.
// Run through run_with_server.sh (HSD_URL, HSD_BIN, HSD_SHARED set) with a server started as
//   -np 4 -c 1024 --drafts HSD_SHARED/models/hsd-m0.gguf,HSD_SHARED/models/hsd-m1.gguf
// Greedy server answers must equal `hsd generate --temp 0` exactly; seeded sampled ones must
// equal `hsd generate --seed S --temp T` (the same default top_k/top_p/min_p).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import OpenAI from "openai";

const { HSD_URL, HSD_BIN, HSD_SHARED } = process.env;
if (!HSD_URL || !HSD_BIN || !HSD_SHARED) throw new Error("run through tests/server/run_with_server.sh");
const TARGET = path.join(HSD_SHARED, "models", "hsd-target.gguf");
const M0 = path.join(HSD_SHARED, "models", "hsd-m0.gguf");
const M1 = path.join(HSD_SHARED, "models", "hsd-m1.gguf");
const SLOW = process.env.HSD_SANITIZER_BUILD === "1";

const client = new OpenAI({
  baseURL: `${HSD_URL}/v1`,
  apiKey: process.env.HSD_API_KEY || "none",
  maxRetries: 0, // a failure must show, not be retried away
  timeout: (SLOW ? 600 : 120) * 1000,
});

// ---- the CLI's answers (cached per argument list) ----------------------------------------
const cliCache = new Map();
function cli({ prompt, n, temp = 0, seed, hierarchy, ignoreEos = false }) {
  const args = ["generate", "-m", TARGET, "-p", prompt, "-n", String(n), "--temp", String(temp), "--json"];
  if (seed !== undefined) args.push("--seed", String(seed));
  if (hierarchy) args.push("--hierarchy", hierarchy);
  if (ignoreEos) args.push("--ignore-eos");
  const key = JSON.stringify(args);
  if (!cliCache.has(key)) {
    const out = execFileSync(HSD_BIN, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 24 });
    cliCache.set(key, JSON.parse(out));
  }
  return cliCache.get(key);
}

const PROMPTS = [
  "def fibonacci(n):",
  "The quick brown fox jumps over the lazy dog. Then the dog",
  'import os\n\ndef list_python_files(root):\n    """Return every .py file below root."""\n',
];
const N = 32;

async function greedy(prompt, n = N, extra = {}) {
  return client.completions.create({ model: "hsd-target", prompt, max_tokens: n, temperature: 0, ...extra });
}

async function collectCompletionStream(params) {
  const stream = await client.completions.create({ ...params, stream: true });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

function assertUsage(u, maxCompletion) {
  assert.ok(Number.isInteger(u.prompt_tokens) && u.prompt_tokens > 0, `prompt_tokens ${u.prompt_tokens}`);
  assert.ok(Number.isInteger(u.completion_tokens) && u.completion_tokens >= 0);
  assert.ok(u.completion_tokens <= maxCompletion, `completion_tokens ${u.completion_tokens} > ${maxCompletion}`);
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
}

// ---- models ------------------------------------------------------------------------------
test("models.list() names the served model", async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, ["hsd-target"]);
  const m = await client.models.retrieve?.("hsd-target").catch((e) => e);
  // GET /v1/models/{id} is optional for OpenAI-compatible servers; when it errors it must be a 404.
  if (m instanceof Error) assert.ok(m instanceof OpenAI.NotFoundError, `retrieve: ${m}`);
});

// ---- completions ---------------------------------------------------------------------------
test("completions: greedy text equals the CLI's", async () => {
  for (const prompt of PROMPTS) {
    const ref = cli({ prompt, n: N });
    const r = await greedy(prompt);
    assert.equal(r.object, "text_completion");
    assert.equal(r.model, "hsd-target");
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].text, ref.text, `prompt ${JSON.stringify(prompt)}`);
    assert.equal(r.choices[0].finish_reason, ref.stop_reason === "length" ? "length" : "stop");
    assertUsage(r.usage, N);
    assert.equal(r.usage.completion_tokens, ref.tokens.length);
    assert.equal(r.usage.prompt_tokens, ref.prompt_tokens.length);
  }
});

test("completions: ignore_eos produces exactly max_tokens tokens", async () => {
  const prompt = PROMPTS[0];
  const ref = cli({ prompt, n: 48, ignoreEos: true });
  const r = await greedy(prompt, 48, { ignore_eos: true });
  assert.equal(r.usage.completion_tokens, 48);
  assert.equal(r.choices[0].finish_reason, "length");
  assert.equal(r.choices[0].text, ref.text);
});

test("completions: streamed deltas equal the non-streamed text; include_usage adds a usage chunk", async () => {
  for (const prompt of PROMPTS) {
    const full = await greedy(prompt);
    const chunks = await collectCompletionStream({
      model: "hsd-target", prompt, max_tokens: N, temperature: 0, stream_options: { include_usage: true },
    });
    const withChoices = chunks.filter((c) => c.choices.length > 0);
    assert.equal(withChoices.map((c) => c.choices[0].text).join(""), full.choices[0].text);
    const finals = withChoices.filter((c) => c.choices[0].finish_reason !== null);
    assert.equal(finals.length, 1, "exactly one chunk carries finish_reason");
    assert.equal(finals[0].choices[0].finish_reason, full.choices[0].finish_reason);
    assert.equal(withChoices[withChoices.length - 1], finals[0], "finish_reason is on the last choice chunk");
    const last = chunks[chunks.length - 1];
    assert.equal(last.choices.length, 0, "the usage chunk has no choices");
    assert.deepEqual(last.usage, full.usage);
    for (const c of chunks.slice(0, -1)) assert.ok(c.usage === null || c.usage === undefined);
    assert.ok(chunks.every((c) => c.id === chunks[0].id && c.object === "text_completion"));
  }
  // Without include_usage: no usage chunk.
  const chunks = await collectCompletionStream({ prompt: PROMPTS[0], max_tokens: 8, temperature: 0 });
  assert.ok(chunks.every((c) => c.choices.length === 1 && !c.usage));
});

// ---- chat ----------------------------------------------------------------------------------
const CHAT = [
  { role: "system", content: "You are a helpful assistant." },
  { role: "user", content: "Write a Python function that adds two numbers." },
];

test("chat: an assistant message with consistent usage", async () => {
  const r = await client.chat.completions.create({ model: "hsd-target", messages: CHAT, max_tokens: 24, temperature: 0 });
  assert.equal(r.object, "chat.completion");
  assert.ok(r.id.startsWith("chatcmpl-"));
  assert.equal(r.choices.length, 1);
  const c = r.choices[0];
  assert.equal(c.message.role, "assistant");
  assert.equal(typeof c.message.content, "string");
  assert.ok(c.message.content.length > 0, "non-empty content");
  assert.ok(["stop", "length"].includes(c.finish_reason));
  assertUsage(r.usage, 24);
  assert.ok(r.usage.completion_tokens > 0);
  if (c.finish_reason === "length") assert.equal(r.usage.completion_tokens, 24);
  // The same request again: the same (greedy) answer.
  const again = await client.chat.completions.create({ messages: CHAT, max_tokens: 24, temperature: 0 });
  assert.equal(again.choices[0].message.content, c.message.content);
  // Content given as text parts is the same prompt.
  const parts = await client.chat.completions.create({
    messages: [CHAT[0], { role: "user", content: [{ type: "text", text: "Write a Python function " }, { type: "text", text: "that adds two numbers." }] }],
    max_tokens: 24, temperature: 0,
  });
  assert.equal(parts.choices[0].message.content, c.message.content);
  assert.equal(parts.usage.prompt_tokens, r.usage.prompt_tokens);
});

test("chat: streamed deltas equal the non-streamed content; include_usage", async () => {
  const params = { model: "hsd-target", messages: CHAT, max_tokens: 24, temperature: 0 };
  const full = await client.chat.completions.create(params);
  const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  const withChoices = chunks.filter((c) => c.choices.length > 0);
  assert.equal(withChoices[0].choices[0].delta.role, "assistant");
  assert.equal(withChoices.map((c) => c.choices[0].delta.content ?? "").join(""), full.choices[0].message.content);
  const finals = withChoices.filter((c) => c.choices[0].finish_reason !== null);
  assert.equal(finals.length, 1);
  assert.equal(finals[0].choices[0].finish_reason, full.choices[0].finish_reason);
  const last = chunks[chunks.length - 1];
  assert.equal(last.choices.length, 0);
  assert.deepEqual(last.usage, full.usage);
  assert.ok(chunks.every((c) => c.object === "chat.completion.chunk" && c.id === chunks[0].id));
});

// ---- stop strings --------------------------------------------------------------------------
// Substrings of the greedy text to stop at: the first occurrence of each must cut the text there.
function stopCandidates(text) {
  const out = [];
  for (const len of [1, 2, 3, 5]) {
    const i = Math.min(text.length - len, Math.max(1, Math.floor(text.length / 2)));
    if (i > 0) out.push(text.slice(i, i + len));
  }
  return [...new Set(out)].filter((s) => s.length > 0);
}

test("stop strings: text cut before the first occurrence, finish_reason stop (also streamed)", async () => {
  for (const prompt of PROMPTS) {
    const ref = cli({ prompt, n: N }).text;
    for (const stop of stopCandidates(ref)) {
      const want = ref.slice(0, ref.indexOf(stop));
      const r = await greedy(prompt, N, { stop: [stop] });
      const what = `prompt ${JSON.stringify(prompt)} stop ${JSON.stringify(stop)}`;
      assert.equal(r.choices[0].text, want, what);
      assert.ok(!r.choices[0].text.includes(stop), what);
      assert.equal(r.choices[0].finish_reason, "stop", what);
      const chunks = await collectCompletionStream({ prompt, max_tokens: N, temperature: 0, stop });
      const streamed = chunks.map((c) => c.choices[0].text).join("");
      assert.equal(streamed, want, `streamed, ${what}`);
      assert.equal(chunks[chunks.length - 1].choices[0].finish_reason, "stop", `streamed, ${what}`);
    }
    // Several stops: the earliest occurrence wins; a stop that never occurs changes nothing.
    const [a, b] = stopCandidates(ref);
    const first = Math.min(...[a, b].map((s) => ref.indexOf(s)));
    const r = await greedy(prompt, N, { stop: ["\u0007never\u0007", b, a] });
    assert.equal(r.choices[0].text, ref.slice(0, first));
    const none = await greedy(prompt, N, { stop: "\u0007never\u0007" });
    assert.equal(none.choices[0].text, ref);
  }
});

test("stop strings in chat (also streamed)", async () => {
  const full = (await client.chat.completions.create({ messages: CHAT, max_tokens: 24, temperature: 0 })).choices[0].message.content;
  const stop = stopCandidates(full)[1];
  assert.ok(stop, `chat text too short: ${JSON.stringify(full)}`);
  const want = full.slice(0, full.indexOf(stop));
  const r = await client.chat.completions.create({ messages: CHAT, max_tokens: 24, temperature: 0, stop: [stop] });
  assert.equal(r.choices[0].message.content, want);
  assert.equal(r.choices[0].finish_reason, "stop");
  const stream = await client.chat.completions.create({ messages: CHAT, max_tokens: 24, temperature: 0, stop, stream: true });
  let text = "";
  let finish = null;
  for await (const c of stream) {
    text += c.choices[0]?.delta?.content ?? "";
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(text, want);
  assert.equal(finish, "stop");
});

// ---- logprobs ------------------------------------------------------------------------------
test("chat logprobs: one entry per token, logprob <= 0, top_logprobs sorted and as many as asked", async () => {
  for (const top of [0, 3]) {
    const r = await client.chat.completions.create({
      messages: CHAT, max_tokens: 16, temperature: 0, logprobs: true, top_logprobs: top,
    });
    const content = r.choices[0].logprobs.content;
    assert.equal(content.length, r.usage.completion_tokens);
    const bytes = [];
    for (const e of content) {
      assert.equal(typeof e.token, "string");
      assert.ok(e.logprob <= 0 && Number.isFinite(e.logprob), `logprob ${e.logprob}`);
      assert.ok(Array.isArray(e.bytes));
      bytes.push(...e.bytes);
      assert.equal(e.top_logprobs.length, top);
      for (let i = 1; i < e.top_logprobs.length; i++) assert.ok(e.top_logprobs[i - 1].logprob >= e.top_logprobs[i].logprob);
      for (const t of e.top_logprobs) assert.ok(t.logprob <= 0);
      // Greedy: the chosen token is the most likely one.
      if (top > 0) {
        assert.equal(e.top_logprobs[0].token, e.token);
        assert.ok(Math.abs(e.top_logprobs[0].logprob - e.logprob) < 1e-6);
      }
    }
    // The tokens' bytes are the content (ASCII-safe: compare as bytes).
    assert.deepEqual(Buffer.from(bytes), Buffer.from(r.choices[0].message.content, "utf8"));
  }
  // Streamed: the logprobs arrive with the deltas, the same entries.
  const full = await client.chat.completions.create({ messages: CHAT, max_tokens: 16, temperature: 0, logprobs: true, top_logprobs: 2 });
  const stream = await client.chat.completions.create({ messages: CHAT, max_tokens: 16, temperature: 0, logprobs: true, top_logprobs: 2, stream: true });
  const entries = [];
  for await (const c of stream) entries.push(...(c.choices[0]?.logprobs?.content ?? []));
  assert.deepEqual(entries.map((e) => e.token), full.choices[0].logprobs.content.map((e) => e.token));
});

test("completions logprobs: integer logprobs gives that many alternatives per token", async () => {
  const prompt = PROMPTS[0];
  const ref = cli({ prompt, n: 16 });
  for (const k of [1, 3, 5]) {
    const r = await greedy(prompt, 16, { logprobs: k });
    const lp = r.choices[0].logprobs;
    assert.equal(r.choices[0].text, ref.text);
    assert.equal(lp.tokens.length, r.usage.completion_tokens);
    assert.equal(lp.token_logprobs.length, lp.tokens.length);
    assert.equal(lp.top_logprobs.length, lp.tokens.length);
    assert.equal(lp.text_offset.length, lp.tokens.length);
    assert.equal(lp.tokens.join(""), r.choices[0].text);
    let off = 0;
    for (let i = 0; i < lp.tokens.length; i++) {
      assert.equal(lp.text_offset[i], off);
      off += lp.tokens[i].length;
      assert.ok(lp.token_logprobs[i] <= 0);
      const alts = Object.entries(lp.top_logprobs[i]);
      // A dict: distinct token texts, at most k (two ids may share a text).
      assert.ok(alts.length >= 1 && alts.length <= k, `${alts.length} alternatives for logprobs=${k}`);
      const best = Math.max(...alts.map(([, v]) => v));
      assert.ok(alts.every(([, v]) => v <= 0));
      assert.ok(Math.abs(best - lp.token_logprobs[i]) < 1e-6, "greedy: the chosen token is the most likely");
    }
  }
  // Logprobs with a speculative mode asked for: still the same greedy text.
  const r = await greedy(prompt, 16, { logprobs: 2, speculative: "hsd-m0:3,hsd-m1:6" });
  assert.equal(r.choices[0].text, ref.text);
});

// ---- sampling --------------------------------------------------------------------------------
test("seeded sampling is reproducible and equals the CLI's, also with other requests in flight", async () => {
  const prompt = PROMPTS[1];
  const params = { prompt, max_tokens: 40, temperature: 0.8, seed: 1234 };
  const ref = cli({ prompt, n: 40, temp: 0.8, seed: 1234 }).text;
  const a = await client.completions.create(params);
  assert.equal(a.choices[0].text, ref);
  // The same request while three others (different prompts, lengths, modes) run beside it.
  const others = [
    greedy(PROMPTS[0], 64, { ignore_eos: true }),
    client.completions.create({ prompt: PROMPTS[2], max_tokens: 50, temperature: 1.0, seed: 7, speculative: "hsd-m1:5" }),
    client.chat.completions.create({ messages: CHAT, max_tokens: 40, temperature: 0.7, seed: 99 }),
  ];
  const [b] = await Promise.all([client.completions.create(params), ...others]);
  assert.equal(b.choices[0].text, ref);
  // Chat: same seed, same answer.
  const chatParams = { messages: CHAT, max_tokens: 24, temperature: 0.9, seed: 42 };
  const c1 = await client.chat.completions.create(chatParams);
  const c2 = await client.chat.completions.create(chatParams);
  assert.equal(c2.choices[0].message.content, c1.choices[0].message.content);
  // Different seeds do sample: not all of four seeds give the same text.
  const texts = new Set();
  for (const seed of [1, 2, 3, 4])
    texts.add((await client.completions.create({ ...params, temperature: 1.2, top_k: 0, top_p: 1, min_p: 0, seed })).choices[0].text);
  assert.ok(texts.size > 1, "four seeds gave the same text");
});

// ---- per-request speculative decoding ---------------------------------------------------------
test("per-request speculative: greedy text identical to 'off' in every mode", async () => {
  const modes = ["default", "hsd-m0:3,hsd-m1:6", "hsd-m1:5", "hsd-m0:4", "hispec", "auto"];
  for (const [pi, prompt] of PROMPTS.entries()) {
    const off = await greedy(prompt, N, { speculative: "off" });
    assert.equal(off.choices[0].text, cli({ prompt, n: N }).text);
    // "auto" profiles and plans on every request (seconds each): one prompt only.
    for (const mode of pi === 0 ? modes : modes.filter((m) => m !== "auto")) {
      const r = await greedy(prompt, N, { speculative: mode });
      assert.equal(r.choices[0].text, off.choices[0].text, `mode ${mode}, prompt ${JSON.stringify(prompt)}`);
      assert.equal(r.usage.completion_tokens, off.usage.completion_tokens);
      if (mode.includes("hsd-m")) {
        // The levels named are the ones used (extension field "speculative").
        assert.ok(r.speculative && typeof r.speculative.hierarchy === "string", `mode ${mode}: no speculative report`);
        for (const m of mode.split(",")) assert.ok(r.speculative.hierarchy.includes(m.split(":")[0]), r.speculative.hierarchy);
      }
    }
    // Streamed with a hierarchy: the same text.
    const chunks = await collectCompletionStream({ prompt, max_tokens: N, temperature: 0, speculative: "hsd-m0:3,hsd-m1:6" });
    assert.equal(chunks.map((c) => c.choices[0].text).join(""), off.choices[0].text);
  }
  // The CLI with the same hierarchy agrees too.
  const prompt = PROMPTS[2];
  assert.equal(cli({ prompt, n: N, hierarchy: `${M0}:3,${M1}:6` }).text, (await greedy(prompt, N, { speculative: "hsd-m0:3,hsd-m1:6" })).choices[0].text);
  // Chat with a hierarchy: the same content as off.
  const chatOff = await client.chat.completions.create({ messages: CHAT, max_tokens: 24, temperature: 0, speculative: "off" });
  const chatSpec = await client.chat.completions.create({ messages: CHAT, max_tokens: 24, temperature: 0, speculative: "hsd-m0:3,hsd-m1:6" });
  assert.equal(chatSpec.choices[0].message.content, chatOff.choices[0].message.content);
});

// ---- errors through the client --------------------------------------------------------------------
async function rejects(promise, Cls, status, check = () => {}) {
  const e = await promise.then(
    (r) => assert.fail(`expected ${Cls.name}, got a response: ${JSON.stringify(r).slice(0, 200)}`),
    (err) => err,
  );
  assert.ok(e instanceof Cls, `expected ${Cls.name}, got ${e?.constructor?.name}: ${e?.message}`);
  assert.equal(e.status, status);
  assert.equal(typeof e.error?.message, "string");
  check(e);
  return e;
}

test("errors: BadRequestError 400 for n=2 and a wrong type, NotFoundError 404 for an unknown model", async () => {
  await rejects(client.completions.create({ prompt: "x", n: 2 }), OpenAI.BadRequestError, 400, (e) => assert.equal(e.param, "n"));
  await rejects(client.chat.completions.create({ messages: CHAT, n: 2 }), OpenAI.BadRequestError, 400, (e) => assert.equal(e.param, "n"));
  await rejects(client.completions.create({ prompt: "x", max_tokens: "5" }), OpenAI.BadRequestError, 400,
    (e) => { assert.equal(e.param, "max_tokens"); assert.equal(e.type, "invalid_request_error"); });
  await rejects(client.chat.completions.create({ messages: CHAT, temperature: "hot" }), OpenAI.BadRequestError, 400,
    (e) => assert.equal(e.param, "temperature"));
  await rejects(client.chat.completions.create({ messages: [{ role: "user", content: 42 }] }), OpenAI.BadRequestError, 400,
    (e) => assert.equal(e.param, "messages[0].content"));
  await rejects(client.completions.create({ model: "gpt-4o", prompt: "x" }), OpenAI.NotFoundError, 404,
    (e) => { assert.equal(e.code, "model_not_found"); assert.equal(e.param, "model"); });
  await rejects(client.chat.completions.create({ model: "no-such-model", messages: CHAT }), OpenAI.NotFoundError, 404);
  await rejects(client.completions.create({ prompt: "hello world ".repeat(700), max_tokens: 4 }), OpenAI.BadRequestError, 400,
    (e) => assert.equal(e.code, "context_length_exceeded"));
  await rejects(client.completions.create({ prompt: "x", max_tokens: 0 }), OpenAI.BadRequestError, 400);
  await rejects(client.completions.create({ prompt: "x", speculative: "hsd-m2:3" }), OpenAI.BadRequestError, 400,
    (e) => assert.equal(e.param, "speculative"));
  // Streaming requests fail the same way (before any event).
  await rejects(client.completions.create({ prompt: "x", n: 3, stream: true }), OpenAI.BadRequestError, 400);
  // Still serving.
  const r = await greedy(PROMPTS[0]);
  assert.equal(r.choices[0].text, cli({ prompt: PROMPTS[0], n: N }).text);
});

test("all slots idle at the end", async () => {
  // A slot marks itself idle just after it hands over the answer: allow it 2 s.
  const deadline = Date.now() + 2000;
  let slots;
  for (;;) {
    slots = await (await fetch(`${HSD_URL}/slots`, { headers: { Authorization: `Bearer ${process.env.HSD_API_KEY || "none"}` } })).json();
    if (slots.every((s) => s.is_processing === false) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(slots.length, 4);
  assert.ok(slots.every((s) => s.is_processing === false), JSON.stringify(slots));
});
