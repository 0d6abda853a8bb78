// TLS server contexts for loki-webhook: TLS 1.2/1.3 only, ECDHE+AEAD ciphers, ALPN http/1.1,
// certificates from PEM files that are re-read when they change (cert-manager / kubelet symlink swaps).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/ssl/context.hpp>

namespace loki::webhook {

// TLS 1.2 suites: ECDHE key exchange and AEAD ciphers only (TLS 1.3 suites are AEAD by definition).
inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
inline constexpr const char* kTls13Ciphersuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

struct CertificateInfo {
  std::string subject;     // one-line subject, e.g. "CN=loki-webhook.loki-system.svc"
  std::string serial_hex;  // upper-case hex, as `openssl x509 -serial` prints it
  std::chrono::system_clock::time_point not_before, not_after;
};

// Builds a server context from PEM text (certificate chain, private key). Throws std::runtime_error
// with a message naming what is wrong: unparsable certificate or key, key not matching the certificate,
// expired certificate.
std::shared_ptr<boost::asio::ssl::context> make_server_context(const std::string& cert_pem, const std::string& key_pem,
                                                               CertificateInfo* info = nullptr);

// Owns the current server context and swaps it when the certificate files change. Connections keep the
// shared_ptr they started with, so a swap never affects an open connection.
class TlsContextProvider {
 public:
  // Loads the pair now; throws std::runtime_error (naming the file) when it cannot.
  TlsContextProvider(std::string cert_path, std::string key_path);

  std::shared_ptr<boost::asio::ssl::context> current() const;
  CertificateInfo info() const;

  // Re-reads both files now. On success installs the new context and returns true; on failure logs an
  // error, keeps the current context and returns false.
  bool reload();

  // Cheap check (stat of both paths, following symlinks: device, inode, size, mtime). When something
  // changed, reads the files and reloads if their content differs from what is loaded. A pair that
  // failed to load is not retried (nor logged again) until the files change again. Returns true when a
  // new context was installed.
  bool poll();

  std::uint64_t reloads() const;
  std::uint64_t reload_failures() const;

 private:
  struct FileId {
    std::uint64_t dev = 0, ino = 0, size = 0;
    std::int64_t mtime_ns = 0;
    bool ok = false;
    bool operator==(const FileId&) const = default;
  };
  static FileId stat_file(const std::string& path);
  bool load_locked(bool from_poll);

  std::string cert_path_, key_path_;
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;
  CertificateInfo info_;
  std::string loaded_digest_, failed_digest_;
  FileId cert_id_, key_id_;
  std::uint64_t reloads_ = 0, failures_ = 0;
};

}  // namespace loki::webhook
