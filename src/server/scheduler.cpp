#include "server/scheduler.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <numeric>

#include "common/error.h"
#include "server/stop_strings.h"
#include "tokenizer/utf8_stream.h"

namespace hsd::server {

// ---- Task -------------------------------------------------------------------------------

bool Task::wait(Update& u, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(m_);
    cv_.wait_for(lock, timeout, [&] { return finished_ || !text_.empty() || !tokens_.empty(); });
    u.text += text_;
    text_.clear();
    for (TokenLogprob& t : tokens_) u.tokens.push_back(std::move(t));
    tokens_.clear();
    u.final = finished_;
    return finished_;
}

void Task::emit(std::string text, std::vector<TokenLogprob> tokens) {
    if (text.empty() && tokens.empty()) return;
    {
        std::lock_guard<std::mutex> lock(m_);
        text_ += text;
        for (TokenLogprob& t : tokens) tokens_.push_back(std::move(t));
    }
    if (spec_.stream) cv_.notify_all();
}

void Task::finish(TaskResult r) {
    {
        std::lock_guard<std::mutex> lock(m_);
        result_ = std::move(r);
        finished_ = true;
    }
    cv_.notify_all();
}

void Task::fail(int status, std::string message) {
    {
        std::lock_guard<std::mutex> lock(m_);
        error_ = std::make_pair(status, std::move(message));
        finished_ = true;
    }
    cv_.notify_all();
}

// ---- logprobs ---------------------------------------------------------------------------

TokenLogprob token_logprob(const Tokenizer& tok, const float* logits, int n, TokenId id, int top) {
    float mx = logits[0];
    for (int i = 1; i < n; ++i) mx = std::max(mx, logits[i]);
    double sum = 0;
    for (int i = 0; i < n; ++i) sum += std::exp((double)logits[i] - mx);
    const double lse = mx + std::log(sum);
    TokenLogprob r;
    r.id = id;
    r.bytes = tok.token_bytes(id);
    r.logprob = (float)((double)logits[id] - lse);
    if (top > 0) {
        std::vector<int> idx((size_t)n);
        std::iota(idx.begin(), idx.end(), 0);
        const int k = std::min(top, n);
        std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int a, int b) {
            return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
        });
        for (int i = 0; i < k; ++i) r.top.emplace_back(idx[(size_t)i], (float)((double)logits[idx[(size_t)i]] - lse));
    }
    return r;
}

// ---- Scheduler --------------------------------------------------------------------------

Scheduler::Scheduler(Engine& engine, SchedulerOptions options)
    : engine_(engine), o_(std::move(options)), batcher_(engine.compute_mutex(), o_.chunk_tokens) {
    if (o_.n_slots < 1) fail(fmt::format("-np {} is out of range: at least one slot", o_.n_slots));
    if (o_.queue_max < 0) fail(fmt::format("--queue {} is out of range: must be >= 0", o_.queue_max));
    const Model& target = engine_.model(o_.model);
    const int64_t train = target.config().n_ctx_train;
    if (o_.n_ctx < 0 || o_.n_ctx > train)
        fail(fmt::format("-c {} is out of range: {} supports contexts up to {} tokens", o_.n_ctx, o_.model, train));
    n_ctx_ = o_.n_ctx > 0 ? o_.n_ctx : train;
    for (int i = 0; i < o_.n_slots; ++i) {
        auto s = std::make_unique<Slot>();
        s->id = i;
        s->info.id = i;
        s->info.n_ctx = n_ctx_;
        slots_.push_back(std::move(s));
    }
    for (auto& s : slots_) s->thread = std::thread([this, slot = s.get()] { slot_loop(*slot); });
}

Scheduler::~Scheduler() { shutdown(std::chrono::milliseconds(0)); }

std::shared_ptr<Task> Scheduler::submit(TaskSpec spec) {
    auto task = std::make_shared<Task>(std::move(spec));
    {
        std::lock_guard<std::mutex> lock(m_);
        if (stopping_) fail("the server is shutting down");
        int idle = 0;
        for (const auto& s : slots_) idle += s->info.busy ? 0 : 1;
        if ((int)queue_.size() >= o_.queue_max + idle) throw QueueFull();
        queue_.push_back(task);
        metrics_.waiting = (int)queue_.size();
    }
    cv_.notify_all();
    return task;
}

void Scheduler::shutdown(std::chrono::milliseconds grace) {
    std::unique_lock<std::mutex> lock(m_);
    if (joined_) return;
    stopping_ = true;  // submit() refuses from now on
    cv_.notify_all();
    // Let queued and running requests finish for up to `grace`, then cancel what is left:
    // queued ones fail with 503, running ones stop at their next step.
    cv_.wait_until(lock, std::chrono::steady_clock::now() + grace, [&] {
        if (!queue_.empty()) return false;
        for (const auto& s : slots_)
            if (s->info.busy) return false;
        return true;
    });
    cancel_all_ = true;
    for (auto& t : queue_) t->fail(503, "the server shut down before this request started");
    queue_.clear();
    metrics_.waiting = 0;
    lock.unlock();
    cv_.notify_all();
    for (auto& s : slots_)
        if (s->thread.joinable()) s->thread.join();
    lock.lock();
    joined_ = true;
}

void Scheduler::slot_loop(Slot& slot) {
    for (;;) {
        std::shared_ptr<Task> task;
        {
            std::unique_lock<std::mutex> lock(m_);
            cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
            if (queue_.empty()) return;  // stopping
            task = queue_.front();
            queue_.pop_front();
            metrics_.waiting = (int)queue_.size();
            metrics_.processing += 1;
            slot.info.busy = true;
            slot.info.n_prompt = (int64_t)task->spec().prompt.size();
            slot.info.n_decoded = 0;
        }
        try {
            ForwardBatcher::Participant p(batcher_);
            run_task(slot, *task);
        } catch (const Error& e) {
            task->fail(400, e.what());
        } catch (const std::exception& e) {
            task->fail(500, fmt::format("internal error: {}", e.what()));
        }
        {
            std::lock_guard<std::mutex> lock(m_);
            metrics_.processing -= 1;
            if (task->error()) metrics_.requests_failed += 1;
            slot.info.busy = false;
        }
        cv_.notify_all();
    }
}

Session& Scheduler::session_for(Slot& slot, const TaskSpec& spec) {
    if (!slot.session || slot.session_key != spec.decoding_key) {
        slot.session.reset();
        SessionOptions o;
        o.model = o_.model;
        o.n_ctx = n_ctx_;
        o.sampling = spec.sampling;
        o.decoding = spec.decoding;
        slot.session = std::make_unique<Session>(engine_, o);
        slot.session_key = spec.decoding_key;
    }
    slot.session->set_sampling(spec.sampling);
    return *slot.session;
}

void Scheduler::run_task(Slot& slot, Task& task) {
    const TaskSpec& spec = task.spec();
    TaskResult r;
    r.slot = slot.id;
    r.queued_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - task.queued_at).count();
    if (task.cancelled()) {
        r.finish_reason = "cancelled";
        std::lock_guard<std::mutex> lock(m_);
        metrics_.requests_cancelled += 1;
        task.finish(std::move(r));
        return;
    }
    Session& s = session_for(slot, spec);
    const Tokenizer& tok = s.tokenizer();
    StopMatcher stop(spec.stop);
    Utf8Stream utf8;
    s.start(spec.prompt, spec.n_predict, spec.ignore_eos);
    {
        std::lock_guard<std::mutex> lock(m_);
        slot.info.hierarchy = s.hierarchy_text();
    }
    // Text generated so far (before stop-string cuts) and how much of it has been released;
    // logprob entries wait until the text they start in is released.
    size_t generated = 0, released = 0;
    std::deque<std::pair<size_t, TokenLogprob>> held;
    auto release = [&](const std::string& text, bool all) {
        released += text.size();
        std::vector<TokenLogprob> out;
        while (!held.empty() && (held.front().first < released || (all && !stop.stopped()))) {
            out.push_back(std::move(held.front().second));
            held.pop_front();
        }
        r.text += text;
        task.emit(text, std::move(out));
    };
    bool cancelled = false;
    while (!s.done()) {
        if (task.cancelled() || cancel_all_) {
            cancelled = true;
            break;
        }
        const std::vector<TokenId>& ids = s.step();
        const float* logits = spec.n_probs >= 0 ? s.last_logits() : nullptr;
        for (TokenId id : ids) {
            if (spec.n_probs >= 0) {
                HSD_ASSERT(logits && ids.size() == 1, "logprobs need an autoregressive session");
                held.emplace_back(generated, token_logprob(tok, logits, tok.n_vocab(), id, spec.n_probs));
            }
            const std::string text = utf8.push(tok.token_bytes(id));
            generated += text.size();
            release(stop.feed(text), false);
            if (stop.stopped()) break;
        }
        {
            std::lock_guard<std::mutex> lock(m_);
            slot.info.n_decoded = (int64_t)s.result().tokens.size();
            metrics_.steps += 1;
        }
        if (stop.stopped()) break;
    }
    if (!stop.stopped() && !cancelled) {
        const std::string tail = stop.feed(utf8.flush());
        release(tail + (stop.stopped() ? std::string() : stop.flush()), true);
    }
    if (!s.done()) s.end(cancelled ? "cancelled" : "stop");  // final timings and level counters
    r.session = s.result();
    if (cancelled)
        r.finish_reason = "cancelled";
    else if (stop.stopped()) {
        r.finish_reason = "stop";
        r.stopping_word = stop.matched();
    } else
        r.finish_reason = r.session.stop_reason == "eos" ? "stop" : "length";
    record(r);
    task.finish(std::move(r));
}

void Scheduler::record(const TaskResult& r) {
    std::lock_guard<std::mutex> lock(m_);
    SchedulerMetrics& m = metrics_;
    if (r.finish_reason == "cancelled")
        m.requests_cancelled += 1;
    else
        m.requests_finished += 1;
    m.prompt_tokens += (int64_t)r.session.prompt_tokens.size();
    m.generated_tokens += (int64_t)r.session.tokens.size();
    m.prompt_seconds += r.session.prompt_seconds;
    m.generation_seconds += r.session.generation_seconds;
    const auto& lv = r.session.levels;
    for (const LevelStats& l : lv) m.levels[l.name] += l;
    if (lv.size() >= 2) {
        const LevelStats& below = lv[lv.size() - 2];  // what the target verified
        m.spec_drafts += below.n_drafts;
        m.spec_draft_tokens += below.draft_n;
        m.spec_accepted_tokens += below.draft_n_accepted;
        for (int i = 0; i < LevelStats::kPositions; ++i) m.spec_accepted_per_pos[i] += below.position_accepted[i];
    }
}

std::vector<SlotInfo> Scheduler::slots() const {
    std::lock_guard<std::mutex> lock(m_);
    std::vector<SlotInfo> out;
    for (const auto& s : slots_) out.push_back(s->info);
    return out;
}

SchedulerMetrics Scheduler::metrics() const {
    std::lock_guard<std::mutex> lock(m_);
    SchedulerMetrics m = metrics_;
    m.batcher = batcher_.stats();
    return m;
}

}  // namespace hsd::server
