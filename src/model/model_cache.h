#pragma once
// Models loaded once per process and shared read-only (weights, tokenizer, packed panels) by
// every context, hierarchy and session that uses them. Safe to call from several threads;
// a model stays loaded, at the same address, as long as the cache lives.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model/model.h"

namespace hsd {

class ModelCache {
public:
    // The model of `path`, loaded on first use (paths naming the same file share one model).
    // Throws hsd::Error naming the file when it cannot be loaded.
    const Model& get(const std::string& path);
    // Files loaded so far (each once).
    int64_t loads() const;

private:
    mutable std::mutex mutex_;
    std::vector<std::pair<std::string, std::unique_ptr<Model>>> models_;  // canonical path -> model
};

}  // namespace hsd
