// Where the unit tests find the project's own files (fixtures, examples, fuzz regressions).
#pragma once

#include <filesystem>
#include <string_view>

namespace loki_test {

// <source dir>/<rel>. The absolute source path is compiled into source_dir.cpp only, so the other test
// objects stay identical across clones (ccache hits in any folder) and no path length can trip gcc 12's
// -Warray-bounds false positive on `std::string(dir) + "/" + rel` (seen with a 16-character source path).
std::filesystem::path source_path(std::string_view rel);

}  // namespace loki_test
