#pragma once
// The per-request "speculative" field (an hsd extension, as vLLM users ask for): which
// decoding a request uses. Model files a request may name are only those the server was
// started with (--draft, --hierarchy, --drafts): a request can never make the server open a
// file. Values:
//   absent, null, "default"     the server's decoding (its flags)
//   "off", "none", false        autoregressive
//   "auto"                      --hierarchy auto over the server's --drafts
//   "hispec", "self-spec"       the target's early exits (HiSpec / LayerSkip presets)
//   "m0:3,m1:6,ngram3:2,@4:4"   a hierarchy; a model is named by its file name, stem or path
//   {"hierarchy": ..., "draft": NAME, "draft_max": N, "draft_ngram": N, "hispec": bool, "self_spec": bool}
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/decoding_request.h"

namespace hsd::server {

struct DecodingChoice {
    DecodingRequest decoding;
    std::string key;  // same key, same levels: a slot may keep its session
};

// Throws ApiError (400, param "speculative") for a value it cannot honour.
// auto_drafts: the candidates of a request's "auto" (the server's --drafts).
DecodingChoice choose_decoding(const std::optional<nlohmann::json>& field, const DecodingRequest& server_default,
                               const std::vector<std::string>& allowed_models,
                               const std::vector<std::string>& auto_drafts);

// The model files a server's decoding flags name (for allowed_models).
std::vector<std::string> models_named(const DecodingRequest& d);

}  // namespace hsd::server
