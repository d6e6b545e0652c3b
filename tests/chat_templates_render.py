#!/usr/bin/env python3
"""Reference renderings of chat templates, for tests/test_chat_format.cpp.

Usage: chat_templates_render.py TEMPLATE_DIR

Renders every TEMPLATE_DIR/*.jinja the way Hugging Face transformers applies a chat template
(jinja2 with trim_blocks, lstrip_blocks and loopcontrols, a raising raise_exception and a
strftime_now global) for a fixed set of conversations, and prints JSON to stdout:

  {"date": "YYYY-MM-DD",
   "templates": {FILE: {"template": TEXT, "bos": BOS, "eos": EOS,
                        "cases": [{"name", "messages", "add_generation_prompt",
                                   "output" | "error"}]}}}

strftime_now formats a fixed date (FIXED_DATE), so that the C++ renderer can be given the same one.
Besides the files, EXTRA_TEMPLATES adds a few well-known templates the directory lacks (Llama 2,
Llama 3, Zephyr). Exit status 3 when jinja2 is missing.
"""
import datetime
import json
import os
import sys

try:
    import jinja2
    import jinja2.ext
except ImportError:
    sys.stderr.write("chat_templates_render.py: the jinja2 module is missing; install python3-jinja2\n")
    sys.exit(3)

FIXED_DATE = datetime.datetime(2025, 3, 14, 9, 26, 53)

# BOS / EOS token texts per model family, chosen from marker strings in the template text
# (first match wins). tests/test_chat_format.cpp reads them from this script's output.
TOKENS = [
    ("<|start_header_id|>", "<|begin_of_text|>", "<|eot_id|>"),  # Llama 3.x
    ("<start_of_turn>", "<bos>", "<eos>"),                        # Gemma 2
    ("<|turn>", "<bos>", "<eos>"),                                # Gemma 4
    ("<｜User｜>", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),  # DeepSeek
    ("<|im_start|>", "<s>", "<|im_end|>"),                        # ChatML
    ("<|end|>", "<s>", "<|endoftext|>"),                          # Phi 3
]
DEFAULT_TOKENS = ("<s>", "</s>")

CONVERSATIONS = [
    ("user", [{"role": "user", "content": "Hello!"}], True),
    ("user_no_generation_prompt", [{"role": "user", "content": "Hello!"}], False),
    ("system_user", [{"role": "system", "content": "You are a helpful assistant."},
                     {"role": "user", "content": "What is 2+2?"}], True),
    ("system_user_assistant_user", [{"role": "system", "content": "You are terse."},
                                    {"role": "user", "content": "Name a colour."},
                                    {"role": "assistant", "content": "Blue."},
                                    {"role": "user", "content": "Another one?"}], True),
    ("user_assistant", [{"role": "user", "content": "Hi"},
                        {"role": "assistant", "content": "Hello, how can I help?"}], False),
    ("user_assistant_user", [{"role": "user", "content": "Hi"},
                             {"role": "assistant", "content": "Hello."},
                             {"role": "user", "content": "Tell me a joke."}], True),
    ("multiline_unicode", [{"role": "system", "content": "Réponds en français.\nSois bref."},
                           {"role": "user", "content": "Line one\nLine two\n\n  indented — ünïcödé 你好 🙂"},
                           {"role": "assistant", "content": "D'accord.\n\n- point 1\n- point 2"},
                           {"role": "user", "content": "Et ensuite ?"}], True),
    ("surrounding_whitespace", [{"role": "user", "content": "  padded question \n"}], True),
    ("assistant_with_reasoning", [{"role": "user", "content": "Is 7 prime?"},
                                  {"role": "assistant", "content": "<think>\nCheck 2, 3.\n</think>\n\nYes."},
                                  {"role": "user", "content": "And 9?"}], True),
    ("consecutive_users", [{"role": "user", "content": "First."},
                           {"role": "user", "content": "Second."}], True),
]


# Templates of well-known models that TEMPLATE_DIR lacks, as their Hugging Face tokenizer_config.json
# has them; rendered as if they were files named "extra-NAME.jinja".
EXTRA_TEMPLATES = {
    "extra-llama-2-chat.jinja": (
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
        "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
        "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if loop.index0 == 0 and system_message != false %}"
        "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
        "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
        "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
        "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"),
    "extra-llama-3-instruct.jinja": (
        "{% set loop_messages = messages %}{% for message in loop_messages %}"
        "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
        "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
        "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"),
    "extra-zephyr-7b-beta.jinja": (
        "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content']"
        " + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] +"
        " eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] +"
        " eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n"
        "{% endif %}\n{% endfor %}"),
}


class TemplateError(Exception):
    pass


def raise_exception(message):
    raise TemplateError(message)


def strftime_now(fmt):
    return FIXED_DATE.strftime(fmt)


def tokens_for(text):
    for marker, bos, eos in TOKENS:
        if marker in text:
            return bos, eos
    return DEFAULT_TOKENS


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: chat_templates_render.py TEMPLATE_DIR\n")
        return 2
    directory = sys.argv[1]
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    result = {}
    sources = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith(".jinja"):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                sources[name] = f.read()
    sources.update(EXTRA_TEMPLATES)
    for name, text in sources.items():
        bos, eos = tokens_for(text)
        entry = {"template": text, "bos": bos, "eos": eos, "cases": []}
        try:
            template = env.from_string(text)
        except Exception as e:  # a template jinja2 cannot parse: record it, render nothing
            entry["parse_error"] = f"{type(e).__name__}: {e}"
            template = None
        for case_name, messages, add_generation_prompt in CONVERSATIONS:
            case = {"name": case_name, "messages": messages, "add_generation_prompt": add_generation_prompt}
            if template is not None:
                try:
                    case["output"] = template.render(messages=messages, add_generation_prompt=add_generation_prompt,
                                                     bos_token=bos, eos_token=eos)
                except Exception as e:
                    case["error"] = f"{type(e).__name__}: {e}"
            else:
                case["error"] = entry["parse_error"]
            entry["cases"].append(case)
        result[name] = entry
    json.dump({"date": FIXED_DATE.strftime("%Y-%m-%d"), "templates": result}, sys.stdout, ensure_ascii=False,
              indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
