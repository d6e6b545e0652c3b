// The profile's inputs: prompts as tokens, the context costs are measured at, the candidates
// and their order.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "common/error.h"
#include "model/model.h"
#include "model/model_cache.h"
#include "planner/profiler_internal.h"
#include "speculative/hierarchy.h"

namespace hsd::planner::detail {

std::vector<std::vector<TokenId>> tokenize_prompts(const Model& target, const ProfileOptions& o) {
    const Tokenizer& tok = target.tokenizer();
    const int64_t room = target.config().n_ctx_train - o.n_tokens - 1;
    if (room < 2)
        fail(fmt::format("profile: --tokens {} leaves no room for a prompt in the {}-token context of '{}'",
                         o.n_tokens, target.config().n_ctx_train, target.path()));
    std::vector<std::vector<TokenId>> prompts;
    for (const Prompt& pr : o.prompts) {
        std::vector<TokenId> t = keep_prompt_tail(tok.encode(pr.text, tok.add_bos_default()), (size_t)room, tok);
        if (t.size() < 2) continue;
        prompts.push_back(std::move(t));
    }
    if (prompts.empty()) fail("profile: every prompt is empty after tokenization");
    return prompts;
}

int choose_context(const std::vector<std::vector<TokenId>>& prompts, const Model& target, const ProfileOptions& o) {
    int64_t total_len = 0;
    for (const std::vector<TokenId>& t : prompts) total_len += (int64_t)t.size();
    return (int)std::min<int64_t>(total_len / (int64_t)prompts.size() + o.n_tokens / 2,
                                  target.config().n_ctx_train - o.n_max - 1);
}

std::vector<int> distinct_exits(std::vector<int> exits) {
    std::sort(exits.begin(), exits.end());
    exits.erase(std::unique(exits.begin(), exits.end()), exits.end());
    return exits;
}

std::vector<ProfileCandidate> collect_candidates(const Model& target, ModelCache& models, const ProfileOptions& o,
                                                 const std::vector<int>& exits, bool check_vocabulary) {
    std::vector<ProfileCandidate> out;
    for (const std::string& path : o.drafts) {
        if (check_vocabulary) check_same_vocabulary(models.get(path), target);
        ProfileCandidate c;
        c.level.kind = LevelSpec::Kind::Model;
        c.level.path = path;
        c.name = std::filesystem::path(path).stem().string();
        out.push_back(c);
    }
    for (int e : exits) {
        if (!target.is_exit_layer(e))
            fail(fmt::format("profile: '{}' has no early exit after layer {}", target.path(), e));
        ProfileCandidate c;
        c.level.kind = LevelSpec::Kind::Exit;
        c.level.exit_layer = e;
        c.name = fmt::format("@{}", e);
        out.push_back(c);
    }
    if (o.ngram > 0) {
        ProfileCandidate c;
        c.level.kind = LevelSpec::Kind::Ngram;
        c.level.ngram_n = o.ngram;
        c.name = fmt::format("ngram{}", o.ngram);
        out.push_back(c);
    }
    return out;
}

void order_candidates(std::vector<ProfileCandidate>& candidates) {
    // A chain runs from cheap drafters to the target: order by the cost of one drafted token.
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const ProfileCandidate& a, const ProfileCandidate& b) { return a.draft_ms < b.draft_ms; });
    // Exits must stay in depth order among themselves (they share one context): sort them
    // within the slots they took.
    std::vector<size_t> slots;
    std::vector<ProfileCandidate> ex;
    for (size_t i = 0; i < candidates.size(); ++i)
        if (candidates[i].level.is_exit()) {
            slots.push_back(i);
            ex.push_back(candidates[i]);
        }
    std::sort(ex.begin(), ex.end(), [](const ProfileCandidate& a, const ProfileCandidate& b) {
        return a.level.exit_layer < b.level.exit_layer;
    });
    for (size_t k = 0; k < slots.size(); ++k) candidates[slots[k]] = ex[k];
}

}  // namespace hsd::planner::detail
