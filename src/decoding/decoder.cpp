#include "decoding/decoder.h"

namespace hsd {

void AutoregressiveDecoder::start(const std::vector<TokenId>& prompt) {
    ctx_.truncate(0);
    logits_ = ctx_.eval(prompt, false);
    pending_ = false;
    length_ = (int64_t)prompt.size();
}

const std::vector<TokenId>& AutoregressiveDecoder::step(Sampler& sampler, int) {
    if (pending_) logits_ = ctx_.eval(out_.data(), 1, false);
    out_.assign(1, sampler.sample(logits_));
    pending_ = true;
    ++length_;
    return out_;
}

void SpeculativeDecoder::start(const std::vector<TokenId>& prompt) {
    h_.reset_stats();
    h_.start(prompt);
}

void SpeculativeDecoder::finish(int64_t len) {
    if (len < (int64_t)h_.sequence().size()) h_.truncate(len);
}

}  // namespace hsd
