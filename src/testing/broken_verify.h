#pragma once
// Deliberately wrong verification rules (test code: library hsd_testing, never linked into hsd
// or the hsd program), for the tests that prove the distribution checks catch a lossy verifier.
// Each differs from VerifyRule::Exact (speculative/verify.h) only in how a rejected draft is
// replaced; greedy decoding never gets there, so they are exact when greedy.
#include "speculative/verify.h"

namespace hsd {

// Records the normalized residual (not p_t) as the distribution of a replaced token.
extern const VerifyRule kBrokenResidualAsQ;
// Draws the replacement from p_t instead of the residual.
extern const VerifyRule kBrokenResampleFromP;

}  // namespace hsd
