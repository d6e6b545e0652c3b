// --draft, --hierarchy, --hispec and the other decoding flags, shared by `hsd generate` and
// `hsd serve` (declared in cli/commands.h).
#include "cli/commands.h"

namespace hsd::cli {

void add_decoding_options(CLI::App* cmd, DecodingRequest& d, std::string& drafts) {
    cmd->add_option("--draft", d.draft, "Draft model for speculative decoding (drafts --draft-max tokens per step)");
    cmd->add_option("--draft-max", d.draft_max, "Tokens drafted per step by --draft and --draft-ngram")
        ->capture_default_str();
    cmd->add_option("--hierarchy", d.hierarchy,
                    "Hierarchical speculative decoding: levels smallest first with their thresholds, e.g. "
                    "a.gguf:3,b.gguf:6,c.gguf:12; a level is a model file, ngramN (prompt lookup) or @K (the "
                    "target's early exit after layer K); auto plans among --drafts, the target's early exits and "
                    "the n-gram drafter, on costs cached per machine and acceptance learned while it generates, "
                    "and re-plans as the text changes");
    cmd->add_option("--draft-ngram", d.draft_ngram,
                    "N-gram (prompt lookup) drafter with suffixes of up to N tokens, proposing up to --draft-max "
                    "tokens; alone, or as the bottom level below --draft / --hierarchy (0 = off)")
        ->capture_default_str();
    cmd->add_option("--plan", d.plan, "Use the hierarchy of a plan written by hsd plan -o");
    cmd->add_option("--drafts", drafts, "--hierarchy auto: candidate draft models besides the target's early exits "
                                          "and the n-gram drafter (comma-separated)");
    cmd->add_flag("--reprofile", d.reprofile,
                  "--hierarchy auto: measure the candidates' forward costs again and refresh the planner cache "
                  "($XDG_CACHE_HOME/hsd, else ~/.cache/hsd)");
    cmd->add_option("--replan-every", d.replan_every,
                    "--hierarchy auto: re-plan every N target steps (0 = keep the first plan)")
        ->capture_default_str();
    cmd->add_flag("--hispec", d.hispec,
                  "HiSpec on an early-exit target: exit --exit-draft drafts --draft-n tokens, exit --exit-verify "
                  "verifies them until --window are tentatively accepted, then the full model validates");
    cmd->add_flag("--self-spec", d.self_spec,
                  "Early-exit self-speculation (LayerSkip): exit --exit-draft drafts --draft-n tokens per step");
    cmd->add_option("--exit-draft", d.hs.exit_draft, "Draft exit layer (0 = the exit nearest 1/8 of the depth)")
        ->capture_default_str();
    cmd->add_option("--exit-verify", d.hs.exit_verify,
                    "Intermediate verifier exit layer (0 = the exit nearest 1/4 of the depth)")
        ->capture_default_str();
    cmd->add_option("--draft-n", d.hs.draft_n, "Tokens drafted per call by the draft exit (0 = 2 for --hispec, 4 for "
                                               "--self-spec)")
        ->capture_default_str();
    cmd->add_option("--window", d.hs.window, "HiSpec: tentatively accepted tokens before the full model validates")
        ->capture_default_str();
}

}  // namespace hsd::cli
