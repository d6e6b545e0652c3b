#include "model/model_cache.h"

#include "common/paths.h"

namespace hsd {

const Model& ModelCache::get(const std::string& path) {
    const std::string key = canonical_path(path);
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [k, m] : models_)
        if (k == key) return *m;
    // Loading under the lock: a second session asking for the same file waits for this load
    // instead of loading it again.
    models_.emplace_back(key, Model::load(path));
    return *models_.back().second;
}

int64_t ModelCache::loads() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return (int64_t)models_.size();
}

}  // namespace hsd
