// PNG (libpng) and JPEG (libjpeg-turbo) decoding, told apart by signature, then the rest of an image
// folder's sample pipeline at a small size: channel conversion, resize and centre crop.
#include "core/io/images.h"
#include "tests/fuzz/fuzz.h"

CW_FUZZ_TARGET(image)
{
    const std::string path = cwfuzz::writeInput(data, size, "image.png");
    cwfuzz::parse([&] {
        const cw::Image image = cw::decodeImage(path);
        for (const int64_t channels : {int64_t(1), int64_t(3)})
            cw::resizeCentreCrop(cw::convertChannels(image, channels), 24, 16, 16);
    });
    return 0;
}
