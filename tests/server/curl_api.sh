#!/usr/bin/env bash
# curl-driven checks of `hsd serve`: status codes, headers and bodies of every endpoint, the
# error paths, and that the server keeps answering after all of them. Run through
# run_with_server.sh (HSD_URL, HSD_BIN, HSD_SHARED set) with a server started as
#   -np 2 -c 1024 --max-body 65536 --metrics --drafts HSD_SHARED/models/hsd-m0.gguf,HSD_SHARED/models/hsd-m1.gguf
# JSON is checked with `node -e` (node is needed by the other server tests anyway; jq may be absent).
set -u
: "${HSD_URL:?run through run_with_server.sh}" "${HSD_BIN:?}" "${HSD_SHARED:?}"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hsd-curl-api.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
BODY=$WORK/body
HEAD=$WORK/headers
FAILS=0
CHECKS=0
CURRENT=

fail() {
    echo "FAIL [$CURRENT]: $*" >&2
    echo "  status: $(cat "$WORK/status" 2>/dev/null)  body: $(head -c 600 "$BODY" 2>/dev/null)" >&2
    FAILS=$((FAILS + 1))
}

# req NAME EXPECTED_STATUS CURL_ARGS...: one request; body in $BODY, headers in $HEAD.
req() {
    CURRENT=$1
    local want=$2
    shift 2
    CHECKS=$((CHECKS + 1))
    local code
    code=$(curl -s --max-time 120 -D "$HEAD" -o "$BODY" -w '%{http_code}' "$@")
    echo "$code" >"$WORK/status"
    if [ "$code" != "$want" ]; then
        fail "expected HTTP $want, got $code"
        return 1
    fi
    return 0
}

# post NAME EXPECTED_STATUS PATH JSON [CURL_ARGS...]: a JSON POST.
post() {
    local name=$1 want=$2 path=$3 data=$4
    shift 4
    req "$name" "$want" -H 'Content-Type: application/json' --data-binary "$data" "$@" "$HSD_URL$path"
}

# js EXPR: EXPR (JavaScript) must be truthy with `j` = the parsed body, `raw` = the body text,
# `h` = the response headers (lower-case names).
js() {
    CHECKS=$((CHECKS + 1))
    local out
    if ! out=$(node -e '
        const fs = require("fs");
        const raw = fs.readFileSync(process.argv[1], "utf8");
        const h = {};
        for (const line of fs.readFileSync(process.argv[2], "utf8").split(/\r?\n/)) {
            const i = line.indexOf(":");
            if (i > 0) h[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
        }
        let j;
        try { j = JSON.parse(raw); } catch (e) { j = undefined; }
        const ok = (0, eval)("(j, raw, h) => (" + process.argv[3] + ")")(j, raw, h);
        if (!ok) process.exit(1);
    ' "$BODY" "$HEAD" "$1" 2>&1); then
        fail "expected: $1 ${out:+($out)}"
        return 1
    fi
    return 0
}

# An OpenAI error object with this status's meaning: {"error":{"message","type","param","code"}}.
is_error() {  # is_error TYPE PARAM_OR_NULL
    local param=$2
    if [ "$param" = "null" ]; then param=null; else param="\"$param\""; fi
    js "j && j.error && typeof j.error.message === 'string' && j.error.message.length > 0 &&
        j.error.type === '$1' && j.error.param === $param && 'code' in j.error &&
        /application\/json/.test(h['content-type'])"
}

# The CLI's greedy continuation as a JSON string literal (the reference every greedy server
# answer must equal; JSON-quoted so that trailing newlines survive the shell).
cli_text_json() {  # cli_text_json PROMPT N
    "$HSD_BIN" generate -m "$HSD_SHARED/models/hsd-target.gguf" -p "$1" -n "$2" --temp 0 --json 2>/dev/null |
        node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.stringify(JSON.parse(s).text)))'
}
json_str() { node -e 'process.stdout.write(JSON.stringify(process.argv[1]))' "$1"; }

PROMPT='def fibonacci(n):'
RJ=$(cli_text_json "$PROMPT" 24)
case "$RJ" in '""' | '') echo "FAIL: the CLI gave no text for '$PROMPT'" >&2; exit 1 ;; esac
PJ=$(json_str "$PROMPT")

# ---- basic endpoints ---------------------------------------------------------------------
req health 200 "$HSD_URL/health" && js "j.status === 'ok'"
req models 200 "$HSD_URL/v1/models" &&
    js "j.object === 'list' && j.data.length === 1 && j.data[0].id === 'hsd-target' && j.data[0].object === 'model'"
req props 200 "$HSD_URL/props" &&
    js "j.total_slots === 2 && j.default_generation_settings.n_ctx === 1024 && j.model_alias === 'hsd-target'"
req slots 200 "$HSD_URL/slots" && js "Array.isArray(j) && j.length === 2 && j.every(s => s.is_processing === false)"

post completion 200 /v1/completions "{\"prompt\":$PJ,\"max_tokens\":24,\"temperature\":0}" &&
    js "j.object === 'text_completion' && j.id.startsWith('cmpl-') && j.model === 'hsd-target' &&
        j.choices.length === 1 && j.choices[0].index === 0 && j.choices[0].text === $RJ &&
        ['length','stop'].includes(j.choices[0].finish_reason) &&
        j.usage.completion_tokens <= 24 && j.usage.prompt_tokens > 0 &&
        j.usage.total_tokens === j.usage.prompt_tokens + j.usage.completion_tokens"
# The prompt as token ids gives the same text.
post tokenize 200 /tokenize "{\"content\":$PJ,\"add_special\":true}" && js "j.tokens.length > 1" &&
    TOKENS=$(node -e 'process.stdout.write(JSON.stringify(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).tokens))' "$BODY") &&
    post completion_token_prompt 200 /v1/completions "{\"prompt\":$TOKENS,\"max_tokens\":24,\"temperature\":0}" &&
    js "j.choices[0].text === $RJ"
post detokenize 200 /detokenize '{"tokens":[322,296,556,849,920]}' && js "typeof j.content === 'string' && j.content.length > 0"

post chat 200 /v1/chat/completions \
    '{"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello."}],"max_tokens":16,"temperature":0}' &&
    js "j.object === 'chat.completion' && j.id.startsWith('chatcmpl-') && j.choices[0].message.role === 'assistant' &&
        typeof j.choices[0].message.content === 'string' && j.choices[0].finish_reason !== null &&
        j.usage.total_tokens === j.usage.prompt_tokens + j.usage.completion_tokens && j.usage.completion_tokens <= 16"

post native_completion 200 /completion "{\"prompt\":$PJ,\"n_predict\":24,\"temperature\":0,\"speculative\":\"hsd-m0:3,hsd-m1:6\"}" &&
    js "j.content === $RJ && j.timings.predicted_n === j.tokens_predicted && typeof j.timings.draft_n === 'number' &&
        j.timings.draft_n_accepted <= j.timings.draft_n"

# ---- streaming: SSE events, the same text, data: [DONE] last --------------------------------
sse_check='(() => {
    const events = raw.split("\n\n").filter(e => e.trim() !== "");
    if (!events.every(e => e.startsWith("data: "))) return false;
    if (events[events.length - 1] !== "data: [DONE]") return false;
    const chunks = events.slice(0, -1).map(e => JSON.parse(e.slice(6)));
    globalThis.chunks = chunks;
    return /text\/event-stream/.test(h["content-type"]) && chunks.length >= 2;
})()'
post stream_completion 200 /v1/completions \
    "{\"prompt\":$PJ,\"max_tokens\":24,\"temperature\":0,\"stream\":true,\"stream_options\":{\"include_usage\":true}}" &&
    js "$sse_check && (() => {
        const text = chunks.filter(c => c.choices.length).map(c => c.choices[0].text).join('');
        const fin = chunks.filter(c => c.choices.length && c.choices[0].finish_reason);
        const last = chunks[chunks.length - 1];
        return text === $RJ && fin.length === 1 && last.choices.length === 0 && last.usage.completion_tokens > 0 &&
               chunks.every(c => c.object === 'text_completion');
    })()"
post stream_chat 200 /v1/chat/completions \
    '{"messages":[{"role":"user","content":"Count to five."}],"max_tokens":12,"temperature":0,"stream":true}' &&
    js "$sse_check && chunks[0].choices[0].delta.role === 'assistant' &&
        chunks.every(c => c.object === 'chat.completion.chunk') &&
        chunks.filter(c => c.choices[0].finish_reason).length === 1"
post stream_native 200 /completion "{\"prompt\":$PJ,\"n_predict\":24,\"temperature\":0,\"stream\":true}" &&
    js "(() => {
        const ev = raw.split('\n\n').filter(e => e.trim()).map(e => JSON.parse(e.slice(6)));
        return ev.map(e => e.content).join('') === $RJ && ev[ev.length - 1].stop === true;
    })()"

# ---- stop strings -------------------------------------------------------------------------
# Two characters from the middle of the greedy text.
SJ=$(node -e 'const r=JSON.parse(process.argv[1]); const i=Math.max(2, r.length>>1); process.stdout.write(JSON.stringify(r.slice(i, i+2)))' "$RJ")
post stop_string 200 /v1/completions "{\"prompt\":$PJ,\"max_tokens\":24,\"temperature\":0,\"stop\":[$SJ]}" &&
    js "j.choices[0].finish_reason === 'stop' && j.choices[0].text === $RJ.slice(0, $RJ.indexOf($SJ)) &&
        !j.choices[0].text.includes($SJ)"
# The generation time of a request that ended on a stop string is reported (not 0).
js "j.timings.predicted_n > 0 && j.timings.predicted_ms > 0 && j.timings.predicted_per_second > 0"

# ---- metrics ------------------------------------------------------------------------------
req metrics 200 "$HSD_URL/metrics" &&
    js "/text\/plain/.test(h['content-type']) && /^hsd:tokens_predicted_total [1-9][0-9]*/m.test(raw) &&
        /^hsd:prompt_tokens_total [1-9]/m.test(raw) && /^hsd:slots_total 2$/m.test(raw)"

# ---- errors -------------------------------------------------------------------------------
post malformed_json 400 /v1/completions '{"prompt": "x", "max_tokens": ' && is_error invalid_request_error null &&
    js "/not valid JSON/.test(j.error.message)"
post not_an_object 400 /v1/completions '["prompt"]' && is_error invalid_request_error null
post wrong_type 400 /v1/completions '{"prompt":"x","max_tokens":"5"}' && is_error invalid_request_error max_tokens
post wrong_type_nested 400 /v1/chat/completions '{"messages":[{"role":"user","content":5}]}' &&
    is_error invalid_request_error 'messages[0].content'
post missing_prompt 400 /v1/completions '{"max_tokens":5}' && is_error invalid_request_error prompt
post empty_messages 400 /v1/chat/completions '{"messages":[]}' && is_error invalid_request_error messages
post unknown_model 404 /v1/completions '{"prompt":"x","model":"gpt-nonexistent"}' &&
    is_error invalid_request_error model && js "j.error.code === 'model_not_found'"
post unknown_model_chat 404 /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"model":"nope"}' &&
    is_error invalid_request_error model
LONG=$(node -e 'process.stdout.write(JSON.stringify({prompt: "hello world ".repeat(700), max_tokens: 4}))')
post prompt_too_long 400 /v1/completions "$LONG" && is_error invalid_request_error prompt &&
    js "j.error.code === 'context_length_exceeded'"
post max_tokens_zero 400 /v1/completions '{"prompt":"x","max_tokens":0}' && is_error invalid_request_error max_tokens
post max_tokens_float 400 /v1/completions '{"prompt":"x","max_tokens":4.0}' && is_error invalid_request_error max_tokens
post n_two 400 /v1/completions '{"prompt":"x","n":2}' && is_error invalid_request_error n
post temperature_range 400 /v1/completions '{"prompt":"x","temperature":3}' && is_error invalid_request_error temperature
post speculative_unknown_model 400 /v1/completions '{"prompt":"x","max_tokens":2,"speculative":"hsd-m2:3"}' &&
    is_error invalid_request_error speculative
post speculative_bad_syntax 400 /v1/completions '{"prompt":"x","max_tokens":2,"speculative":"hsd-m0:"}' &&
    is_error invalid_request_error speculative
post stream_options_without_stream 400 /v1/completions '{"prompt":"x","stream_options":{"include_usage":true}}' &&
    is_error invalid_request_error stream_options
# Bodies over --max-body (65536 here): 413, also a streamed request.
BIG=$(node -e 'process.stdout.write(JSON.stringify({prompt: "a".repeat(70000)}))')
post body_too_large 413 /v1/completions "$BIG" && is_error invalid_request_error null
post body_too_large_chat 413 /v1/chat/completions \
    "$(node -e 'process.stdout.write(JSON.stringify({messages: [{role: "user", content: "b".repeat(70000)}], stream: true}))')" &&
    is_error invalid_request_error null
# Invalid UTF-8 (a lone 0xFF byte inside the prompt string).
printf '{"prompt":"abc\xffdef","max_tokens":2}' >"$WORK/bad_utf8.json"
req invalid_utf8 400 -H 'Content-Type: application/json' --data-binary @"$WORK/bad_utf8.json" "$HSD_URL/v1/completions" &&
    is_error invalid_request_error null && js "/UTF-8/.test(j.error.message)"
# Nested too deep.
post too_deep 400 /v1/completions "{\"prompt\":\"x\",\"metadata\":$(printf '[%.0s' {1..100})$(printf ']%.0s' {1..100})}" &&
    is_error invalid_request_error null
req unknown_path 404 "$HSD_URL/v1/nonexistent" && is_error not_found_error null
req unknown_path_post 404 -H 'Content-Type: application/json' -d '{}' "$HSD_URL/v2/completions" && is_error not_found_error null
req wrong_method_get 405 "$HSD_URL/v1/completions" && is_error invalid_request_error null && js "h.allow === 'POST'"
req wrong_method_post 405 -H 'Content-Type: application/json' -d '{}' "$HSD_URL/v1/models" && js "h.allow === 'GET'"
req wrong_method_delete 405 -X DELETE "$HSD_URL/v1/chat/completions" && js "h.allow === 'POST'"
# A JSON body over 8 KiB sent with curl's default Content-Type (application/x-www-form-urlencoded).
MID=$(node -e 'process.stdout.write(JSON.stringify({prompt: "hello world ".repeat(1000).slice(0, 12000) + "!", max_tokens: 1}))')
# cpp-httplib (as Debian packages it) caps form-encoded bodies at 8 KiB: a clear 413 saying what to send.
req form_content_type_12k 413 --data-binary "$MID" "$HSD_URL/v1/completions" &&
    js "j.error.message.includes('Content-Type: application/json')"
# CORS preflight.
req cors_preflight 204 -X OPTIONS -H 'Origin: http://example.com' -H 'Access-Control-Request-Method: POST' \
    "$HSD_URL/v1/chat/completions" && js "h['access-control-allow-origin'] === '*'"

# ---- still serving, same answers ------------------------------------------------------------
req health_after 200 "$HSD_URL/health" && js "j.status === 'ok'"
post completion_after 200 /v1/completions "{\"prompt\":$PJ,\"max_tokens\":24,\"temperature\":0}" &&
    js "j.choices[0].text === $RJ"
post chat_after 200 /v1/chat/completions '{"messages":[{"role":"user","content":"Still there?"}],"max_tokens":4}' &&
    js "j.choices[0].message.role === 'assistant'"
req slots_after 200 "$HSD_URL/slots" && js "j.every(s => s.is_processing === false)"
req metrics_after 200 "$HSD_URL/metrics" && js "/^hsd:requests_total\{outcome=\"finished\"\} [1-9]/m.test(raw)"

if [ $FAILS -ne 0 ]; then
    echo "curl_api: $FAILS of $CHECKS checks failed" >&2
    exit 1
fi
echo "curl_api: all $CHECKS checks passed"
