#include "source_dir.hpp"

namespace loki_test {

std::filesystem::path source_path(std::string_view rel) {
  return std::filesystem::path(LOKI_SOURCE_DIR) / rel;
}

}  // namespace loki_test
