// The `hsd` program end to end (it runs the built binary): every speculative mode of
// `hsd generate` reproduces autoregressive greedy output (--compare-ar) with the levels it
// announces, `hsd profile` -> `hsd plan -o` -> `hsd generate --plan` works, and bad input
// exits with status 1 and a message naming the problem. Uses hsd-ee-small (8 layers, early
// exits 1, 2, 4, 6) as the target so it is quick under sanitizers too.
#include <gtest/gtest.h>

#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "test_support.h"

using json = nlohmann::json;

namespace {

using hsd::test::CliRun;
CliRun run(const std::string& args) { return hsd::test::run_cli(HSD_CLI_PATH, args); }

std::string model(const std::string& name) { return hsd::test::shared_path("models/" + name + ".gguf"); }

// The JSON object printed by --json (the last line starting with '{').
json last_json(const std::string& out) {
    const size_t at = out.rfind("\n{");
    return json::parse(out.substr(at == std::string::npos ? out.find('{') : at + 1));
}

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("hsd_cli_" + std::to_string(::getpid()) + "_" + name)).string();
}

const char* kPrompt = "-p 'def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n' -n 24 --temp 0";

TEST(Cli, SpeculativeModesReproduceAutoregressiveOutput) {
    HSD_REQUIRE_SHARED("models/hsd-ee-small.gguf");
    HSD_REQUIRE_SHARED("models/hsd-m0.gguf");
    const std::string t = model("hsd-ee-small");
    struct Mode {
        std::string flags;
        std::vector<std::string> levels;  // names of the draft levels, bottom first (suffix match)
    };
    const std::vector<Mode> modes = {
        {"--hispec", {"@1", "@2"}},
        {"--hispec --exit-draft 2 --exit-verify 6 --draft-n 3 --window 6", {"@2", "@6"}},
        {"--self-spec --exit-draft 4", {"@4"}},
        {"--hierarchy ngram3:3,@4:4", {"ngram(3)", "@4"}},
        {"--draft " + model("hsd-m0") + " --draft-max 3", {"hsd-m0.gguf"}},
        {"--draft-ngram 3 --hierarchy " + model("hsd-m0") + ":3,@4:5", {"ngram(3)", "hsd-m0.gguf", "@4"}},
    };
    for (const Mode& m : modes) {
        SCOPED_TRACE(m.flags);
        const CliRun r = run("generate -m " + t + " " + m.flags + " " + kPrompt + " --json --compare-ar");
        ASSERT_EQ(r.status, 0) << r.out;
        const json j = last_json(r.out);
        EXPECT_TRUE(j.at("compare_ar").at("tokens_identical").get<bool>());
        EXPECT_EQ(j.at("tokens").size(), 24u);
        const json& levels = j.at("speculative").at("levels");
        ASSERT_EQ(levels.size(), m.levels.size() + 1);
        for (size_t i = 0; i < m.levels.size(); ++i) {
            const std::string name = levels[i].at("name").get<std::string>();
            EXPECT_TRUE(name.size() >= m.levels[i].size() &&
                        name.compare(name.size() - m.levels[i].size(), m.levels[i].size(), m.levels[i]) == 0)
                << name << " should end with " << m.levels[i];
        }
        EXPECT_GT(j.at("speculative").at("layer_evals").get<int64_t>(), 0);
    }
}

// --no-repack keeps a quantized target in the file's layout; decoding stays exact there too.
TEST(Cli, NoRepackGeneratesExactly) {
    HSD_REQUIRE_SHARED("models/quant/hsd-m1-Q4_K_M.gguf");
    const std::string t = hsd::test::shared_path("models/quant/hsd-m1-Q4_K_M.gguf");
    for (const char* flag : {"", " --no-repack"}) {
        SCOPED_TRACE(flag);
        const CliRun r = run("generate -m " + t + flag + " --draft-ngram 3 " + kPrompt + " --json --compare-ar");
        ASSERT_EQ(r.status, 0) << r.out;
        const json j = last_json(r.out);
        EXPECT_TRUE(j.at("compare_ar").at("tokens_identical").get<bool>());
        EXPECT_EQ(j.at("tokens").size(), 24u);
    }
}

TEST(Cli, ProfilePlanGenerate) {
    HSD_REQUIRE_SHARED("models/hsd-ee-small.gguf");
    HSD_REQUIRE_SHARED("models/hsd-m0.gguf");
    const std::string t = model("hsd-ee-small");
    const std::string prompts = temp_path("prompts.jsonl"), profile = temp_path("profile.json"),
                      plan = temp_path("plan.json");
    std::ofstream(prompts) << R"({"prompt": "def add(a, b):\n    return a + b\n\ndef mul(a, b):\n"})" << "\n"
                           << R"({"prompt": "import numpy as np\n\nx = np.zeros(3)\n"})" << "\n";
    CliRun r = run("profile -m " + t + " --drafts " + model("hsd-m0") + " --draft-ngram --prompts " + prompts +
                " --tokens 12 --n-max 4 --reps 1 --temp 0 -o " + profile);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("wrote " + profile), std::string::npos) << r.out;
    r = run("plan " + profile + " --t-max 8 -o " + plan);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("none (target alone)"), std::string::npos) << "baselines are listed\n" << r.out;
    r = run("plan " + profile + " --t-max 8 --json");
    ASSERT_EQ(r.status, 0) << r.out;
    const json pj = last_json(r.out);
    EXPECT_GT(pj.at("predicted_tokens_per_second").get<double>(), 0);
    r = run("generate -m " + t + " --plan " + plan + " " + kPrompt + " --json --compare-ar");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_TRUE(last_json(r.out).at("compare_ar").at("tokens_identical").get<bool>());
    // A plan is for one target.
    r = run("generate -m " + model("hsd-m0") + " --plan " + plan + " -p hi -n 2");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("was planned for target"), std::string::npos) << r.out;
    // --hierarchy auto profiles the prompt and plans.
    r = run("generate -m " + t + " --hierarchy auto " + kPrompt + " --json --compare-ar");
    ASSERT_EQ(r.status, 0) << r.out;
    const json aj = last_json(r.out);
    EXPECT_TRUE(aj.at("compare_ar").at("tokens_identical").get<bool>());
    EXPECT_TRUE(aj.contains("plan"));
    for (const std::string& f : {prompts, profile, plan}) std::filesystem::remove(f);
}

// --hierarchy auto: costs measured once per machine and reused, hsd profile feeding the same
// cache, --reprofile, a corrupt entry ignored with one warning, and the plan over time.
TEST(Cli, AutoCachesCostsAndExplainsItsPlans) {
    HSD_REQUIRE_SHARED("models/hsd-ee-small.gguf");
    HSD_REQUIRE_SHARED("models/hsd-m0.gguf");
    const std::string t = model("hsd-ee-small"), d = model("hsd-m0");
    const std::string cache = temp_path("xdg");
    std::filesystem::remove_all(cache);
    const std::string env = "env XDG_CACHE_HOME=" + cache + " " + HSD_CLI_PATH + " ";
    auto auto_run = [&](const std::string& extra) {
        return hsd::test::run_cli(env, "generate -m " + t + " --hierarchy auto --drafts " + d + " " + kPrompt +
                                           " --json --compare-ar " + extra);
    };
    CliRun r = auto_run("");
    ASSERT_EQ(r.status, 0) << r.out;
    json j = last_json(r.out);
    EXPECT_TRUE(j.at("compare_ar").at("tokens_identical").get<bool>());
    EXPECT_EQ(j.at("plan").at("cost_cache"), "measured");
    ASSERT_FALSE(j.at("plan").at("history").empty());
    EXPECT_EQ(j.at("plan").at("history")[0].at("token"), 0);
    EXPECT_TRUE(j.at("plan").at("history")[0].at("accept").contains("ngram3"));
    r = auto_run("");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(last_json(r.out).at("plan").at("cost_cache"), "hit");
    r = auto_run("--reprofile");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(last_json(r.out).at("plan").at("cost_cache"), "measured");
    // Every cost entry corrupted: one warning each, measured again, then a hit.
    int corrupted = 0;
    for (const auto& e : std::filesystem::directory_iterator(cache + "/hsd"))
        if (e.path().filename().string().rfind("costs-", 0) == 0) {
            std::ofstream(e.path()) << "{ not json";
            ++corrupted;
        }
    EXPECT_EQ(corrupted, 2);  // the target (with its exits) and the draft
    r = auto_run("");
    ASSERT_EQ(r.status, 0) << r.out;
    size_t warnings = 0;
    for (size_t at = 0; (at = r.out.find("ignoring planner cache entry", at)) != std::string::npos; ++at) ++warnings;
    EXPECT_EQ(warnings, 2u) << r.out;
    EXPECT_EQ(last_json(r.out).at("plan").at("cost_cache"), "measured");
    EXPECT_EQ(last_json(auto_run("").out).at("plan").at("cost_cache"), "hit");
    // --verbose prints each plan as it is put in force.
    r = hsd::test::run_cli(env, "generate -m " + t + " --hierarchy auto --drafts " + d + " " + kPrompt + " -v");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("[plan] token    0 step   0:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("auto plan:"), std::string::npos) << r.out;
    // hsd profile writes the same cache: a fresh cache filled by it is a hit for auto.
    std::filesystem::remove_all(cache);
    const std::string prompts = temp_path("auto_prompts.jsonl"), profile = temp_path("auto_profile.json");
    std::ofstream(prompts) << R"({"prompt": "def add(a, b):\n    return a + b\n"})" << "\n";
    r = hsd::test::run_cli(env, "profile -m " + t + " --drafts " + d + " --draft-ngram --exits all --prompts " +
                                    prompts + " --tokens 8 --n-max 16 --reps 1 --temp 0 -o " + profile);
    ASSERT_EQ(r.status, 0) << r.out;
    r = auto_run("");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(last_json(r.out).at("plan").at("cost_cache"), "hit");
    // --reprofile without auto is refused.
    r = run("generate -m " + t + " --reprofile -p hi -n 2");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("--reprofile"), std::string::npos) << r.out;
    for (const std::string& f : {prompts, profile}) std::filesystem::remove(f);
    std::filesystem::remove_all(cache);
}

// Byte-level BPE pieces are printed as the bytes they stand for; bytes that are not a whole
// valid UTF-8 character, and control characters, as \xNN (a character split over tokens).
TEST(Cli, TokenizeEscapesBytesThatAreNotText) {
    HSD_REQUIRE_SHARED("tokenizers/ggml-vocab-gpt-2.gguf");
    const std::string text = temp_path("llama.txt");
    std::ofstream(text) << "a\xF0\x9F\xA6\x99\tb";  // a, U+1F999 (split over three tokens), tab, b
    const CliRun r = run("tokenize -m " + hsd::test::shared_path("tokenizers/ggml-vocab-gpt-2.gguf") + " -f " + text);
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("64 -> 'a'\n  8582 -> '\\xf0\\x9f'\n    99 -> '\\xa6'\n   247 -> '\\x99'\n   197 -> '\\x09'\n"
                         "    65 -> 'b'\n6 tokens"),
              std::string::npos)
        << r.out;
    std::filesystem::remove(text);
}

TEST(Cli, BadInputNamesTheProblem) {
    HSD_REQUIRE_SHARED("models/hsd-ee-small.gguf");
    HSD_REQUIRE_SHARED("models/hsd-m0.gguf");
    const std::string t = model("hsd-ee-small");
    const std::string bad = temp_path("bad.json");
    std::ofstream(bad) << "{\"a\": 1}\n";
    const std::string one_prompt = temp_path("one_prompt.jsonl");
    std::ofstream(one_prompt) << "{\"prompt\": \"def f():\"}\n";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"generate -m " + model("hsd-m0") + " --hispec -p hi", "lists no early exits"},
        {"generate -m " + t + " --hierarchy @3:2 -p hi", "no early exit after layer 3"},
        {"generate -m " + t + " --hierarchy @4:2,@2:2 -p hi", "shallowest first"},
        {"generate -m " + t + " --hierarchy " + model("hsd-m0") + ":x -p hi", "threshold 'x'"},
        {"generate -m " + t + " --hispec --exit-draft 4 --exit-verify 2 -p hi", "deeper"},
        {"generate -m " + t + " --hispec --draft " + model("hsd-m0") + " -p hi", "only one of"},
        {"generate -m " + t + " --plan " + bad + " -p hi", "\"target\""},
        {"generate -m " + t + " --compare-ar -p hi", "--hispec, --self-spec or --plan"},
        {"generate -m " + t + " --self-spec --draft-n -1 -p hi", "--draft-n must be >= 0"},
        {"generate -m " + t + " --draft-max 0 --draft-ngram 2 -p hi", "--draft-max must be >= 1, got 0"},
        {"plan " + bad, "no field \"target\""},
        {"profile -m " + t + " --prompts /nonexistent.jsonl -o " + bad, "/nonexistent.jsonl"},
        {"profile -m " + t + " --exits 2 --prompts " + one_prompt + " --tokens 5000 -o " + bad, "leaves no room for a prompt"},
    };
    for (const auto& [args, want] : cases) {
        const CliRun r = run(args);
        EXPECT_EQ(r.status, 1) << args << "\n" << r.out;
        EXPECT_NE(r.out.find("error: "), std::string::npos) << args << "\n" << r.out;
        EXPECT_NE(r.out.find(want), std::string::npos) << args << "\n" << r.out;
    }
    std::filesystem::remove(bad);
    std::filesystem::remove(one_prompt);
}

}  // namespace
