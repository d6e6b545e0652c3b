#include "planner/shadow_verdicts.h"

namespace hsd::planner {

void ShadowVerdicts::begin_step(bool greedy) {
    greedy_ = greedy;
    proposals_.clear();
    empty_.clear();
}

void ShadowVerdicts::on_proposal(int level, int verifier, int64_t base, const std::vector<TokenId>& tokens) {
    if (verifier == target_) return;  // judged by the target itself: counted directly
    if (!greedy_ && level != ngram_) return;
    if (tokens.empty()) {
        empty_.push_back(level);
        return;
    }
    for (size_t t = 0; t < tokens.size(); ++t) proposals_.push_back({level, base + (int64_t)t, tokens[t]});
}

void ShadowVerdicts::on_cut(int64_t keep) {
    std::erase_if(proposals_, [keep](const Proposal& p) { return p.pos > keep; });
}

const std::vector<ShadowSample>& ShadowVerdicts::end_step(const std::vector<TokenId>& seq) {
    out_.clear();
    for (const Proposal& p : proposals_)
        if (p.pos < (int64_t)seq.size()) out_.push_back({p.level, seq[(size_t)p.pos] == p.tok});
    for (int level : empty_) out_.push_back({level, false});
    return out_;
}

}  // namespace hsd::planner
