// `hsd info MODEL.gguf`: what is in a GGUF file. Works on any valid GGUF; for Llama
// models it also prints the interpreted hyper-parameters and checks that hsd can run it.
#include <fmt/format.h>

#include <map>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "common/error.h"
#include "gguf/gguf_file.h"
#include "model/model.h"

namespace hsd::cli {

namespace {

// Per tensor type: how many tensors, their bytes and bits per weight (then the whole file's
// tensors), i.e. what a quantization recipe produced.
void print_type_table(const gguf::File& f) {
    struct Row {
        size_t count = 0;
        uint64_t bytes = 0, elements = 0;
    };
    std::map<uint32_t, Row> by_type;
    Row total;
    for (const gguf::TensorInfo& t : f.tensors()) {
        for (Row* r : {&by_type[t.ggml_type], &total}) {
            ++r->count;
            r->bytes += t.n_bytes;
            r->elements += t.n_elements;
        }
    }
    auto line = [](const char* name, const Row& r) {
        fmt::print("  {:<8} {:>7} {:>14} {:>10.2f} {:>8.2f}\n", name, r.count, r.bytes, r.bytes / 1048576.0,
                   r.elements ? r.bytes * 8.0 / (double)r.elements : 0.0);
    };
    fmt::print("\ntensor types:\n");
    fmt::print("  {:<8} {:>7} {:>14} {:>10} {:>8}\n", "type", "tensors", "bytes", "MiB", "bpw");
    for (const auto& [type, r] : by_type) line(gguf::tensor_type_name(type), r);
    line("total", total);
}

void run_info(const std::string& path, bool all_metadata) {
    auto f = gguf::File::open(path);
    fmt::print("file:        {}\n", path);
    fmt::print("size:        {} bytes ({:.1f} MiB)\n", f->file_size(), f->file_size() / 1048576.0);
    fmt::print("gguf:        version {}, {} metadata keys, {} tensors, alignment {}, data at offset {}\n",
               f->version(), f->metadata().size(), f->tensors().size(), f->alignment(), f->data_offset());

    std::unique_ptr<Model> model;
    std::string load_error;
    try {
        model = Model::load(path);
    } catch (const Error& e) {
        load_error = e.what();
    }
    if (model) {
        const ModelConfig& c = model->config();
        const Tokenizer& tok = model->tokenizer();
        fmt::print("\nmodel:       {} (architecture {})\n", c.name, c.arch);
        fmt::print("layers:      {}\n", c.n_layer);
        fmt::print("embedding:   {}\n", c.n_embd);
        fmt::print("heads:       {} query, {} key/value, head dim {}\n", c.n_head, c.n_head_kv, c.head_dim);
        fmt::print("ffn:         {}\n", c.n_ff);
        fmt::print("context:     {}\n", c.n_ctx_train);
        fmt::print("rope:        dim {}, base {}\n", c.rope_dim, c.rope_base);
        fmt::print("rms eps:     {}\n", c.rms_eps);
        fmt::print("early exits: {}\n", c.exit_layers_text());
        fmt::print("tokenizer:   {} ({}), {} tokens, bos {} eos {} unk {}, add_bos {}, add_space_prefix {}\n",
                   f->get_string("tokenizer.ggml.model"), tok.kind_name(), tok.n_vocab(), tok.bos_id(), tok.eos_id(), tok.unk_id(),
                   tok.add_bos_default(), tok.add_space_prefix());
        fmt::print("weights:     {} bytes streamed per forward pass (all layers + head)\n",
                   model->weight_bytes(0, c.n_layer, true));
    } else {
        fmt::print("\nhsd cannot run this model: {}\n", load_error);
    }

    fmt::print("\nmetadata:\n");
    for (const auto& [key, value] : f->metadata()) {
        const bool big = value.type == gguf::ValueType::ARRAY && value.arr.size() > 16;
        fmt::print("  {:<45} {:<8} {}\n", key, gguf::value_type_name(value.type),
                   value.to_string(all_metadata ? SIZE_MAX : (big ? 5 : 16)));
    }
    print_type_table(*f);

    fmt::print("\ntensors:\n");
    fmt::print("  {:<32} {:<6} {:<16} {:>12} {:>12}\n", "name", "type", "shape", "offset", "bytes");
    for (const gguf::TensorInfo& t : f->tensors())
        fmt::print("  {:<32} {:<6} {:<16} {:>12} {:>12}\n", t.name, gguf::tensor_type_name(t.ggml_type),
                   t.shape_string(), f->data_offset() + t.offset, t.n_bytes);
}

}  // namespace

void register_info(CLI::App& app) {
    auto* cmd = app.add_subcommand("info", "Show a GGUF file: hyper-parameters, tokenizer, early exits, sizes per tensor type, every tensor");
    static std::string path;
    static bool all = false;
    cmd->add_option("model", path, "GGUF file");
    cmd->add_option("-m,--model", path, "GGUF file (alternative to the positional argument)");
    cmd->add_flag("--all", all, "Print metadata arrays in full");
    cmd->callback([] {
        if (path.empty()) fail("info: no model given (hsd info MODEL.gguf)");
        run_info(path, all);
    });
}

}  // namespace hsd::cli
