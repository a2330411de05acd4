// fuzz_replay TARGET [--rejections-ok] PATH...: runs files (or every file of folders) through one fuzz target
// without libFuzzer. Exit status 0 when every file parsed (or, with --rejections-ok, was parsed or rejected); 1
// when one was rejected (its cw::Error is printed) or no file was given; 2 for an unknown target. A crash is a
// crash. CTest runs it over each seed corpus (fuzz_corpus_TARGET), so the targets keep compiling with the regular
// compiler and the seeds stay valid inputs, and over the kept reproducers of past findings (fuzz_findings_TARGET,
// --rejections-ok), so none of them crashes again, also in the sanitizer build.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz.h"

namespace fs = std::filesystem;

namespace {

std::map<std::string, cwfuzz::Target> &targets()
{
    static std::map<std::string, cwfuzz::Target> t;
    return t;
}

} // namespace

bool cwfuzz::registerTarget(const char *name, Target target)
{
    targets()[name] = target;
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !targets().count(argv[1])) {
        std::fprintf(stderr, "usage: fuzz_replay TARGET PATH...\ntargets:");
        for (const auto &[name, target] : targets())
            std::fprintf(stderr, " %s", name.c_str());
        std::fprintf(stderr, "\n");
        return 2;
    }
    const cwfuzz::Target target = targets()[argv[1]];
    std::vector<fs::path> files;
    const bool rejectionsOk = argc > 2 && std::string(argv[2]) == "--rejections-ok";
    for (int i = rejectionsOk ? 3 : 2; i < argc; ++i) {
        if (fs::is_directory(argv[i])) {
            for (const auto &e : fs::directory_iterator(argv[i]))
                if (e.is_regular_file())
                    files.push_back(e.path());
        } else {
            files.push_back(argv[i]);
        }
    }
    std::sort(files.begin(), files.end());
    int rejected = 0;
    for (const fs::path &file : files) {
        std::ifstream in(file, std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (!in.good() && !in.eof()) {
            std::fprintf(stderr, "%s: cannot read\n", file.c_str());
            return 1;
        }
        target(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size());
        const std::string &error = cwfuzz::lastError();
        std::printf("%s %s (%zu bytes)%s%s\n", error.empty() ? "ok      " : "REJECTED", file.c_str(), bytes.size(),
                    error.empty() ? "" : ": ", error.c_str());
        rejected += !error.empty();
    }
    if (files.empty())
        std::fprintf(stderr, "no input files\n");
    return files.empty() || (rejected && !rejectionsOk) ? 1 : 0;
}
