// Response bodies (server/responses.h), one builder per endpoint: the exact shapes clients
// parse, for the parts that need no model (logprobs, which need a tokenizer, are covered by the
// loopback suites in tests/server/).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "server/responses.h"
#include "server/sse.h"

namespace hsd::server {
namespace {

using json = nlohmann::json;

ResponseContext context(Api api) {
    ResponseContext rc;
    rc.id = response_id(api, 7);
    rc.model = "hsd-target";
    rc.created = 1700000000;
    return rc;
}

TaskResult finished(const std::string& reason) {
    TaskResult r;
    r.finish_reason = reason;
    r.text = "hi";
    r.slot = 1;
    r.session.prompt_tokens = {1, 2, 3};
    r.session.tokens = {4, 5};
    return r;
}

std::vector<json> events(const std::string& sse) {
    std::vector<json> out;
    for (const std::string& d : parse_sse_data(sse)) out.push_back(d == "[DONE]" ? json("[DONE]") : json::parse(d));
    return out;
}

TEST(Responses, Ids) {
    EXPECT_EQ(response_id(Api::Completions, 3), "cmpl-3");
    EXPECT_EQ(response_id(Api::Chat, 3), "chatcmpl-3");
    EXPECT_EQ(response_id(Api::Native, 3), "3");
}

TEST(Responses, FinishReason) {
    EXPECT_EQ(finish_reason(finished("stop")), "stop");
    EXPECT_EQ(finish_reason(finished("length")), "length");
    EXPECT_EQ(finish_reason(finished("cancelled")), "abort");
}

TEST(Responses, Completion) {
    ResponseContext rc = context(Api::Completions);
    rc.prompt_text = "say ";
    const json j = generation_response(Api::Completions, rc, finished("length"), {}, TaskSpec{});
    EXPECT_EQ(j["id"], "cmpl-7");
    EXPECT_EQ(j["object"], "text_completion");
    EXPECT_EQ(j["created"], 1700000000);
    EXPECT_EQ(j["model"], "hsd-target");
    EXPECT_EQ(j["choices"], json::parse(R"j([{"index":0,"text":"say hi","logprobs":null,"finish_reason":"length"}])j"));
    EXPECT_EQ(j["usage"], json::parse(R"j({"prompt_tokens":3,"completion_tokens":2,"total_tokens":5})j"));
    EXPECT_TRUE(j["timings"].is_object());
    EXPECT_FALSE(j.contains("speculative"));  // autoregressive
}

TEST(Responses, Chat) {
    const json j = generation_response(Api::Chat, context(Api::Chat), finished("stop"), {}, TaskSpec{});
    EXPECT_EQ(j["id"], "chatcmpl-7");
    EXPECT_EQ(j["object"], "chat.completion");
    EXPECT_EQ(j["choices"], json::parse(R"j([{"index":0,"message":{"role":"assistant","content":"hi"},
                                             "logprobs":null,"finish_reason":"stop"}])j"));
    EXPECT_EQ(j["usage"]["total_tokens"], 5);
}

TEST(Responses, Native) {
    TaskSpec spec;
    spec.n_predict = 9;
    spec.stop = {"END"};
    spec.sampling.seed = 5;
    TaskResult r = finished("stop");
    r.stopping_word = "END";
    const json j = generation_response(Api::Native, context(Api::Native), r, {}, spec);
    EXPECT_EQ(j["content"], "hi");
    EXPECT_EQ(j["id_slot"], 1);
    EXPECT_EQ(j["stop"], true);
    EXPECT_EQ(j["tokens_predicted"], 2);
    EXPECT_EQ(j["tokens_evaluated"], 3);
    EXPECT_EQ(j["generation_settings"]["n_predict"], 9);
    EXPECT_EQ(j["generation_settings"]["seed"], 5);
    EXPECT_EQ(j["generation_settings"]["stop"], json::array({"END"}));
    EXPECT_EQ(j["generation_settings"]["n_probs"], 0);
    EXPECT_EQ(j["stopped_eos"], false);
    EXPECT_EQ(j["stopped_word"], true);
    EXPECT_EQ(j["stopped_limit"], false);
    EXPECT_EQ(j["stopping_word"], "END");
    EXPECT_FALSE(j.contains("completion_probabilities"));
}

TEST(Responses, CompletionStream) {
    ResponseContext rc = context(Api::Completions);
    EXPECT_EQ(stream_start(Api::Completions, rc), "");
    rc.prompt_text = "say ";  // echo: the prompt comes first
    rc.include_usage = true;
    std::vector<json> e = events(stream_start(Api::Completions, rc) + stream_chunk(Api::Completions, rc, "hi", {}) +
                                 stream_end(Api::Completions, rc, finished("stop"), TaskSpec{}));
    ASSERT_EQ(e.size(), 5u);
    EXPECT_EQ(e[0]["choices"][0]["text"], "say ");
    EXPECT_EQ(e[1]["choices"][0]["text"], "hi");
    EXPECT_TRUE(e[1]["usage"].is_null());
    EXPECT_EQ(e[2]["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(e[3]["choices"], json::array());
    EXPECT_EQ(e[3]["usage"]["completion_tokens"], 2);
    EXPECT_EQ(e[4], "[DONE]");
}

TEST(Responses, ChatStream) {
    const ResponseContext rc = context(Api::Chat);
    std::vector<json> e = events(stream_start(Api::Chat, rc) + stream_chunk(Api::Chat, rc, "hi", {}) +
                                 stream_end(Api::Chat, rc, finished("length"), TaskSpec{}));
    ASSERT_EQ(e.size(), 4u);
    EXPECT_EQ(e[0]["object"], "chat.completion.chunk");
    EXPECT_EQ(e[0]["choices"][0]["delta"], json::parse(R"j({"role":"assistant","content":""})j"));
    EXPECT_EQ(e[1]["choices"][0]["delta"], json::parse(R"j({"content":"hi"})j"));
    EXPECT_EQ(e[2]["choices"][0]["delta"], json::object());
    EXPECT_EQ(e[2]["choices"][0]["finish_reason"], "length");
    EXPECT_FALSE(e[2].contains("usage"));
    EXPECT_EQ(e[3], "[DONE]");
}

TEST(Responses, NativeStreamHasNoDone) {
    const ResponseContext rc = context(Api::Native);
    EXPECT_EQ(stream_start(Api::Native, rc), "");
    std::vector<json> e = events(stream_chunk(Api::Native, rc, "hi", {}) +
                                 stream_end(Api::Native, rc, finished("stop"), TaskSpec{}));
    ASSERT_EQ(e.size(), 2u);
    EXPECT_EQ(e[0], json::parse(R"j({"content":"hi","stop":false})j"));
    EXPECT_EQ(e[1]["content"], "");  // the text went in the chunks
    EXPECT_EQ(e[1]["stop"], true);
}

TEST(Responses, StreamError) {
    const ApiError err(500, "boom", "server_error");
    EXPECT_EQ(stream_error(Api::Chat, err), sse_data(err.to_json()) + sse_done());
    EXPECT_EQ(stream_error(Api::Completions, err), sse_data(err.to_json()) + sse_done());
    EXPECT_EQ(stream_error(Api::Native, err), sse_data(err.to_json()));
}

ServerInfo info() {
    ServerInfo s;
    s.model_name = "coder";
    s.model_path = "/m/hsd-target.gguf";
    s.created = 1700000000;
    s.config.n_vocab = 100;
    s.config.n_ctx_train = 2048;
    s.config.n_embd = 64;
    s.config.n_layer = 4;
    s.total_slots = 2;
    s.n_ctx = 512;
    s.n_predict = -1;
    s.sampling.temperature = 0.5f;
    s.sampling.top_k = 40;
    s.sampling.top_p = 0.5f;
    s.sampling.min_p = 0.25f;
    s.speculative = true;
    s.chat_template = "{{ x }}";
    s.chat_format = "chatml";
    s.chat_format_source = "forced (--chat-template)";
    return s;
}

TEST(Responses, Models) {
    EXPECT_EQ(models_response(info()), json::parse(R"j({"object":"list","data":[{"id":"coder","object":"model",
        "created":1700000000,"owned_by":"hsd","meta":{"n_vocab":100,"n_ctx_train":2048,"n_embd":64,"n_layer":4,
        "path":"/m/hsd-target.gguf"}}]})j"));
}

TEST(Responses, Props) {
    EXPECT_EQ(props_response(info()), json::parse(R"j({"default_generation_settings":{"n_ctx":512,"n_predict":-1,
        "temperature":0.5,"top_k":40,"top_p":0.5,"min_p":0.25,"speculative":true},"total_slots":2,
        "model_path":"/m/hsd-target.gguf","model_alias":"coder","chat_template":"{{ x }}","chat_format":"chatml",
        "chat_format_source":"forced (--chat-template)","build_info":"hsd 0.1.0"})j"));
}

TEST(Responses, Slots) {
    SlotInfo busy{.id = 0, .busy = true, .n_prompt = 3, .n_decoded = 4, .n_ctx = 512, .hierarchy = "m0:3"};
    SlotInfo idle{.id = 1, .busy = false, .n_prompt = 0, .n_decoded = 0, .n_ctx = 512, .hierarchy = ""};
    EXPECT_EQ(slots_response({busy, idle}), json::parse(R"j([
        {"id":0,"n_ctx":512,"is_processing":true,"state":1,"n_prompt_tokens":3,"n_decoded":4,"speculative":true,"hierarchy":"m0:3"},
        {"id":1,"n_ctx":512,"is_processing":false,"state":0,"n_prompt_tokens":0,"n_decoded":0,"speculative":false,"hierarchy":""}])j"));
}

TEST(Responses, Health) {
    HealthAnswer a = health_response(true, false);
    EXPECT_EQ(a.status, 200);
    EXPECT_EQ(a.body, json::parse(R"j({"status":"ok"})j"));
    a = health_response(false, false);
    EXPECT_EQ(a.status, 503);
    EXPECT_EQ(a.body, json::parse(R"j({"error":{"code":503,"message":"Loading model","type":"unavailable_error"}})j"));
    a = health_response(true, true);
    EXPECT_EQ(a.status, 503);
    EXPECT_EQ(a.body, json::parse(R"j({"error":{"code":503,"message":"shutting down","type":"unavailable_error"}})j"));
}

TEST(Responses, Detokenize) { EXPECT_EQ(detokenize_response("a b"), json::parse(R"j({"content":"a b"})j")); }

}  // namespace
}  // namespace hsd::server
