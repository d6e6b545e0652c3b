// `hsd serve --api-key KEY` through the OpenAI Node.js client: the right key works, a wrong or
// missing one gets 401 (AuthenticationError) on every endpoint but /health.
// Run through run_with_server.sh with the server started as `--api-key KEY` and HSD_API_KEY=KEY
// in the environment.
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";

const { HSD_URL, HSD_API_KEY } = process.env;
if (!HSD_URL || !HSD_API_KEY) throw new Error("run through run_with_server.sh with --api-key and HSD_API_KEY set");
const SLOW = process.env.HSD_SANITIZER_BUILD === "1";

const make = (apiKey) => new OpenAI({ baseURL: `${HSD_URL}/v1`, apiKey, maxRetries: 0, timeout: (SLOW ? 300 : 60) * 1000 });
const good = make(HSD_API_KEY);
const wrongKeys = [`${HSD_API_KEY}x`, HSD_API_KEY.slice(0, -1), "none", HSD_API_KEY.toUpperCase() === HSD_API_KEY ? "k" : HSD_API_KEY.toUpperCase()];

async function expect401(promise) {
  const e = await promise.then(() => assert.fail("expected AuthenticationError, got a response"), (err) => err);
  assert.ok(e instanceof OpenAI.AuthenticationError, `expected AuthenticationError, got ${e?.constructor?.name}: ${e?.message}`);
  assert.equal(e.status, 401);
  assert.equal(e.type, "authentication_error");
  assert.equal(e.headers.get("www-authenticate"), "Bearer");
  return e;
}

test("the right key: models, completions, chat, streaming", async () => {
  const ids = [];
  for await (const m of good.models.list()) ids.push(m.id);
  assert.deepEqual(ids, ["hsd-target"]);
  const c = await good.completions.create({ prompt: "def add(a, b):", max_tokens: 8, temperature: 0 });
  assert.equal(typeof c.choices[0].text, "string");
  assert.ok(c.usage.completion_tokens > 0);
  const chat = await good.chat.completions.create({ messages: [{ role: "user", content: "Hi" }], max_tokens: 8, temperature: 0 });
  assert.equal(chat.choices[0].message.role, "assistant");
  const stream = await good.completions.create({ prompt: "def add(a, b):", max_tokens: 8, temperature: 0, stream: true });
  let text = "";
  for await (const ch of stream) text += ch.choices[0]?.text ?? "";
  assert.equal(text, c.choices[0].text);
  // Errors other than auth still come through with the right key.
  const e = await good.completions.create({ prompt: "x", n: 2 }).catch((err) => err);
  assert.ok(e instanceof OpenAI.BadRequestError);
});

test("a wrong key: AuthenticationError 401 everywhere", async () => {
  for (const key of wrongKeys) {
    const bad = make(key);
    await expect401((async () => { for await (const m of bad.models.list()) void m; })());
    await expect401(bad.completions.create({ prompt: "x", max_tokens: 2 }));
    await expect401(bad.chat.completions.create({ messages: [{ role: "user", content: "x" }], max_tokens: 2 }));
    await expect401(bad.completions.create({ prompt: "x", max_tokens: 2, stream: true }));
  }
});

test("no key or a malformed header: 401 on the API and native endpoints", async () => {
  const cases = [
    ["GET", "/v1/models", {}],
    ["POST", "/v1/completions", {}],
    ["POST", "/v1/chat/completions", { Authorization: HSD_API_KEY }],  // no "Bearer "
    ["POST", "/completion", { Authorization: `Basic ${HSD_API_KEY}` }],
    ["GET", "/slots", { Authorization: "Bearer" }],
    ["GET", "/props", { Authorization: `bearer ${HSD_API_KEY}x` }],
    ["POST", "/tokenize", {}],
    ["GET", "/v1/nonexistent", {}],  // auth comes first: nothing is learnt without the key
  ];
  for (const [method, path, headers] of cases) {
    const r = await fetch(`${HSD_URL}${path}`, {
      method, headers: { "Content-Type": "application/json", ...headers },
      body: method === "POST" ? JSON.stringify({ prompt: "x", content: "x", messages: [{ role: "user", content: "x" }] }) : undefined,
    });
    assert.equal(r.status, 401, `${method} ${path}`);
    assert.equal(r.headers.get("www-authenticate"), "Bearer");
    const j = await r.json();
    assert.equal(j.error.type, "authentication_error", `${method} ${path}`);
    assert.equal(j.error.code, "invalid_api_key");
  }
  // With the key, the native endpoints answer.
  const ok = await fetch(`${HSD_URL}/slots`, { headers: { Authorization: `Bearer ${HSD_API_KEY}` } });
  assert.equal(ok.status, 200);
  assert.ok((await ok.json()).every((s) => s.is_processing === false));
});

test("/health needs no key", async () => {
  for (const headers of [{}, { Authorization: "Bearer wrong" }]) {
    const r = await fetch(`${HSD_URL}/health`, { headers });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { status: "ok" });
  }
});
