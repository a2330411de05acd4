// Recipe JSON: strict parsing, and the round trip every accepted recipe must survive (what saveRecipe
// writes reads back to the same JSON).
#include "core/compress/recipe.h"
#include "tests/fuzz/fuzz.h"

CW_FUZZ_TARGET(recipe)
{
    cwfuzz::parse([&] {
        const cw::Recipe recipe = cw::recipeFromJson(std::string(reinterpret_cast<const char *>(data), size));
        const std::string saved = cw::recipeToJson(recipe);
        std::string again;
        try {
            again = cw::recipeToJson(cw::recipeFromJson(saved));
        } catch (const cw::Error &e) {
            std::fprintf(stderr, "%s\n", e.what());
            cwfuzz::require(false, "a saved recipe reads back");
        }
        cwfuzz::require(again == saved, "a saved recipe reads back unchanged");
    });
    return 0;
}
