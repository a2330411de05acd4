// cw-h5check KIND PATH NAME — the rehearsal of core/base/rehearse.h: reads PATH the way the program is about to
// (KIND: model-file, a native .h5 model; model-image, the same format read from memory; dataset, an HDF5 dataset;
// bundle-file / bundle-image, a bundle such as a project file, core/io/bundle.h; NAME: what error messages call
// the file)
// and exits 0 when the read gave a result; when it failed with a cw::Error, prints the message and exits
// kRehearsalReadFailed. A corrupt file that crashes libhdf5 crashes this process instead of the program that asked.
// Not meant to be run by hand.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "core/base/error.h"
#include "core/base/rehearse.h"
#include "core/io/bundle.h"
#include "core/io/dataset.h"
#include "core/io/model_io.h"

int main(int argc, char **argv)
{
    if (argc != 4)
        return cw::kRehearsalUnavailable;
    const std::string kind = argv[1], path = argv[2], name = argv[3];
    cw::disableRehearsal();
    // The program checks the bundle's kind, version and kernels itself; the rehearsal reads whatever is there.
    cw::LoadOptions noKernels;
    noKernels.requireKernels = false;
    try {
        if (kind == cw::rehearsalKindName(cw::RehearsalKind::ModelFile)) {
            for (const auto &format : cw::modelFormats())
                if (format->extension() == "h5")
                    format->read(path);
        } else if (kind == cw::rehearsalKindName(cw::RehearsalKind::ModelImage)) {
            std::ifstream in(path, std::ios::binary);
            if (!in)
                std::_Exit(cw::kRehearsalUnavailable);
            const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
            cw::readH5Bytes(bytes, name);
        } else if (kind == cw::rehearsalKindName(cw::RehearsalKind::Dataset)) {
            cw::readH5Arrays(path);
        } else if (kind == cw::rehearsalKindName(cw::RehearsalKind::BundleFile)) {
            cw::readBundle(path, {}, INT64_MAX, noKernels);
        } else if (kind == cw::rehearsalKindName(cw::RehearsalKind::BundleImage)) {
            std::ifstream in(path, std::ios::binary);
            if (!in)
                std::_Exit(cw::kRehearsalUnavailable);
            const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
            cw::readBundleBytes(bytes, name, {}, INT64_MAX, noKernels);
        } else {
            return cw::kRehearsalUnavailable;
        }
    } catch (const cw::Error &e) {
        // An error is an answer, not a crash: the program reports it without reading the file itself.
        std::fputs(e.what(), stdout);
        std::fflush(stdout);
        std::_Exit(cw::kRehearsalReadFailed);
    } catch (...) {
        // Anything else (std::bad_alloc from a container) the program's own read meets in its own way.
    }
    // No exit-time work: a leak check here would report the library's leaks on malformed files as a crash of the
    // read; the program's own read of the same file runs under the same checks.
    std::_Exit(0);
}
