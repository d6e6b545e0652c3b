#pragma once
// What a Hierarchy reports while it steps, for whoever learns from the drafts it does not
// keep: the online planner (planner/shadow_verdicts.h) derives from these calls the target's
// verdicts on deeper levels' drafts. The executor keeps no state for it.
#include <cstdint>
#include <vector>

#include "common/token_id.h"

namespace hsd {

class HierarchyObserver {
public:
    virtual ~HierarchyObserver() = default;
    // Pool candidate `level` was asked for drafts and returned `tokens` (possibly none) at
    // positions [base, base + tokens.size()) of the sequence, to pool level `verifier` (the
    // target is the last pool index), which verifies them next.
    virtual void on_proposal(int level, int verifier, int64_t base, const std::vector<TokenId>& tokens) = 0;
    // A verification kept the sequence's first `keep` tokens (it appends one of its own after them):
    // proposals past `keep` were made on a prefix that is gone.
    virtual void on_cut(int64_t keep) = 0;
};

}  // namespace hsd
