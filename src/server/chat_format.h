#pragma once
// Chat formats: turning a list of chat messages into the prompt text a model expects.
//
// A GGUF carries its chat format as a Jinja program (tokenizer.chat_template). Rather than
// interpreting Jinja, hsd recognises which well-known format a template implements from marker
// strings in its text (the approach llama.cpp takes in llm_chat_detect_template) and renders
// that format with hand-written code. Each renderer reproduces the template's output exactly
// for plain system/user/assistant conversations: tests/test_chat_format.cpp compares them with
// jinja2's rendering (tests/chat_templates_render.py) of the templates in shared/chat-templates.
// Tool calls, images and template options (enable_thinking, ...) are out of scope: a template
// sees them as undefined, as when an OpenAI client sends none.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hsd::server {

struct ChatMessage {
    std::string role;  // system / user / assistant
    std::string content;
};

enum class ChatFormat {
    ChatML,             // <|im_start|>role\n...<|im_end|>\n (Qwen3-Coder and plain ChatML models)
    ChatMLBos,          // BOS + ChatML, system only when non-empty (LFM2)
    Qwen25,             // ChatML, default system "You are Qwen, created by Alibaba Cloud..."
    MiMo,               // ChatML, default system "You are MiMo, ..."
    Qwen3,              // ChatML with <think> handling of the turns after the last user message
    Qwen35,             // Qwen3.5: trimmed contents, generation prompt opens <think>
    QwQ,                // ChatML, old reasoning dropped, generation prompt "<think>\n</think>"
    Step35,             // StepFun 3.5: BOS + ChatML, <think> handling, generation prompt opens <think>
    MiniCPM5,           // BOS + ChatML, reasoning kept only after the last user message
    Bielik,             // BOS + ChatML, assistant reasoning re-wrapped, contents left-stripped
    LFM25,              // BOS + ChatML, reasoning dropped from all but the last assistant turn
    Llama2,             // <s>[INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST] ... </s>
    Llama3,             // <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>
    Llama31,            // Llama 3.1 / 3.3: always a system header with "Today Date: 26 Jul 2024"
    Llama32,            // Llama 3.2: as 3.1 with today's date
    MistralNemo,        // <s>[INST]...[/INST]...</s>, system joined to the last user message
    Phi3,               // <|user|>\n...<|end|>\n<|assistant|>\n
    Gemma,              // <start_of_turn>user\n...<end_of_turn>\n (no system role)
    Zephyr,             // <|user|>\n...</s>\n<|assistant|>\n
    DeepSeekR1,         // <｜User｜>...<｜Assistant｜>...<｜end▁of▁sentence｜>, prompt opens <think>
    DeepSeekR1NoThink,  // as DeepSeekR1 with the generation prompt "<think>\n</think>"
    DeepSeekV31,        // DeepSeek V3.1, non-thinking mode
    DeepSeekV32,        // DeepSeek V3.2, non-thinking mode
    DeepSeekV4,         // DeepSeek V4, non-thinking mode
    Granite33,          // <|start_of_role|>role<|end_of_role|>...<|end_of_text|>\n, dated default system
    Granite40,          // as Granite33 with a fixed default system
    Granite41,          // as Granite33 without a default system
    SeedOSS,            // ByteDance Seed-OSS: <seed:bos>role\n...<seed:eos>
    RwkvWorld,          // RWKV World: "User: ...\n\nAssistant: ...\n\n"
};

// A calendar date for templates that print today's date (strftime_now).
struct ChatDate {
    int year;
    int month;  // 1..12
    int day;    // 1..31
};
ChatDate chat_date_today();  // local time, as Python's datetime.now()

// The format a Jinja chat template implements, recognised from marker strings in its text.
// nullopt when nothing matches (the caller then uses ChatML and says so).
std::optional<ChatFormat> detect_chat_format(std::string_view jinja_template);

// --chat-template NAME ("chatml", "llama3", ...). Throws hsd::Error naming the bad name and
// listing the valid ones.
ChatFormat chat_format_from_name(std::string_view name);
std::string chat_format_name(ChatFormat f);
std::vector<std::string> chat_format_names();

// Renders the conversation exactly as the model's Jinja template would, bos/eos being the
// model's BOS/EOS token texts (emitted where the template emits them).
// add_generation_prompt: append the header that starts the assistant's turn.
// Throws hsd::Error for a conversation the format cannot express (no messages, an unknown role,
// roles not alternating where the template requires it).
std::string render_chat(ChatFormat f, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        std::string_view bos, std::string_view eos);
// As above with a given date for "today" (formats that print it: Llama32, Granite33).
std::string render_chat(ChatFormat f, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        std::string_view bos, std::string_view eos, ChatDate today);

// Texts that end an assistant turn in this format (e.g. "<|im_end|>" for ChatML), which a
// server adds as stop strings for models whose EOS token differs.
std::vector<std::string> chat_format_end_of_turn(ChatFormat f);

}  // namespace hsd::server
