// kubeconfig parsing from text: loki::load_cluster_config on the input written
// to a private temporary file (the loader reads files; nothing connects, and an
// exec plugin is only recorded, never run). Errors are KubeError; anything else
// escaping is a bug.
//
// Inputs that could name a device or a kernel file (certificate-authority:
// /dev/zero reads forever, /dev/stdin blocks) are skipped: the loader reading
// whatever path a kubeconfig names is its documented behaviour, not a bug.
#include <loki/kubeconfig.hpp>

#include "fuzz_target.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace fuzz_kubeconfig {

struct Scratch {
  std::string dir;
  std::string path;
  Scratch() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "loki-fuzz-kubeconfig.XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    dir = tmpl;
    path = dir + "/config";
    // Files a kubeconfig may name relative to itself.
    std::ofstream(dir + "/ca.crt") << "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    std::ofstream(dir + "/token") << "token\n";
  }
  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

bool names_special_files(std::string_view text) {
  for (std::string_view s : {"dev", "proc", "sys", "run", "\\", "fd"})
    if (text.find(s) != std::string_view::npos) return true;
  return false;
}

}  // namespace fuzz_kubeconfig

LOKI_FUZZ_TARGET(kubeconfig) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (fuzz_kubeconfig::names_special_files(text)) return 0;
  static fuzz_kubeconfig::Scratch scratch;
  {
    std::ofstream out(scratch.path, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  for (const char* context : {"", "fuzz"}) {
    try {
      loki::ClusterConfig cfg = loki::load_cluster_config({scratch.path, context});
      if (cfg.host.empty()) loki::fuzz::fail("a config without a host: " + cfg.server);
    } catch (const loki::KubeError&) {
    }
  }
  return 0;
}
