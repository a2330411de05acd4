// tokenizer.json (core/lm/hf_tokenizer): the vocabulary it becomes, then that vocabulary as a tokenizer
// encoding and decoding a fixed text of several scripts, spaces, a special token's text and invalid UTF-8.
#include <filesystem>

#include "core/base/mapped_file.h"
#include "core/io/gguf.h"
#include "core/lm/hf_tokenizer.h"
#include "core/lm/tokenizer.h"
#include "tests/fuzz/fuzz.h"

CW_FUZZ_TARGET(tokenizer_json)
{
    const std::string path = cwfuzz::writeInput(data, size, "tokenizer.json");
    cwfuzz::parse([&] {
        const std::vector<cw::gguf::WriteValue> kv =
            cw::lm::huggingFaceVocabulary(std::filesystem::path(path).parent_path().string());
        const std::string bytes = cw::gguf::metadataOnly(kv);
        const cw::lm::Tokenizer tok =
            cw::lm::Tokenizer::fromGguf(cw::gguf::File::open(cw::MappedFile::view(path, bytes.data(), bytes.size())));
        const std::vector<int32_t> ids = tok.encode("Hello  world\n\tab ab \xc3\xa9 <s> \xe6\x97\xa5 \xff!", false);
        tok.decode(ids);
    });
    return 0;
}
