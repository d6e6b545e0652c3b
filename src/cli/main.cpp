// hsd: command-line entry point. Errors from the library (hsd::Error) are printed as
// "error: <message>" with exit status 1; usage errors by CLI11 with its own status.
#include <cstdio>
#include <cstring>
#include <exception>

#include "cli/commands.h"
#include "common/error.h"

// llama.cpp's multi-letter short flags, which CLI11 cannot declare, spelled long.
void rename_llama_flags(int argc, char** argv) {
    static char parallel[] = "--parallel", ubatch[] = "--ubatch-size";
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "-np") == 0) argv[i] = parallel;
        else if (std::strcmp(argv[i], "-ub") == 0) argv[i] = ubatch;
    }
}

int main(int argc, char** argv) {
    rename_llama_flags(argc, argv);
    CLI::App app{"hsd: exact, fast LLM inference on the CPU with hierarchical speculative decoding"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "hsd 0.1.0");
    hsd::cli::register_info(app);
    hsd::cli::register_tokenize(app);
    hsd::cli::register_generate(app);
    hsd::cli::register_profile(app);
    hsd::cli::register_plan(app);
    hsd::cli::register_quantize(app);
    hsd::cli::register_serve(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const hsd::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
